"""The panel over plain HTTP, as a browser would use it (cookies kept by hand)."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """Cookies by hand: the panel's are Secure, and httpx would not send them over http."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.cookies: dict[str, SimpleCookie] = {}

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        header = "; ".join(f"{n}={c[n].value}" for n, c in self.cookies.items())
        response = self.http.request(method, path, headers={"Cookie": header}, **kwargs)  # type: ignore[arg-type]
        for raw in response.headers.get_list("set-cookie"):
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(raw)
            for name in cookie:
                if cookie[name]["max-age"] == "0" or cookie[name].value in ("", '""'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = cookie
        return response

    def csrf(self, path: str) -> str:
        match = CSRF_FIELD.search(self.request("GET", path).text)
        assert match is not None
        return match.group(1)

    def sign_up(self, email: str) -> httpx.Response:
        form = {"csrf": self.csrf("/panel/sign-in"), "name": "Acme", "email": email}
        return self.request("POST", "/panel/sign-up", data={**form, "password": PASSWORD})

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        form = {"csrf": self.csrf("/panel/sign-in"), "email": email, "password": password}
        return self.request("POST", "/panel/sign-in", data=form)
