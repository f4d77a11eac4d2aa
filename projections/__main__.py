from projections.rebuild import main

main()
