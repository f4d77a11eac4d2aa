"""The service layer: what callers of the API can do, called by the routers (HTTP) and the
panel's pages alike. Neither calls the other; SQL lives in front_door/queries.py and the read
models' own modules."""
