"""``localreg ui``: serve the web UI (Registry App and artifact browser) over a store.

starlette and uvicorn are imported inside the command, so ``localreg
--help`` stays fast and the core install does not need them.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import webbrowser

import click

from ..store import current_user
from . import State, cli, pass_state


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port), or a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto given explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP;
    # with Nagle on, every response on a kept-alive connection waits ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        hint = "; choose another --port" if port else ""
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}{hint}") from None
    return sock


def banner(host: str, address: str, port: int, home: str, user: str) -> tuple[str, str, str | None]:
    """``(url, url from this machine, warning or None)`` for a server on ``host`` bound to ``address:port``.

    The URL names the address as given (the Host check accepts that
    name); listening beyond loopback comes with a warning naming the risk.
    """
    name = host.strip("[]")
    url = f"http://{f'[{name}]' if ':' in name else name}:{port}/"
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.is_loopback:
        return url, url, None
    if ip.is_unspecified:
        here = f"http://{'[::1]' if ip.version == 6 else '127.0.0.1'}:{port}/"
        where = f"{name} (every network interface of this machine)"
    else:
        here = url
        where = f"{name} ({address})" if name != address else address
    warning = (
        f"Warning: the UI listens on {where}, not on loopback only. Anyone who can reach port {port} "
        f"from another machine can read every artifact of store {home} and change the store "
        f"(link, unlink, move aliases, create registries) as user {user!r}, with no password: "
        "registry roles do not stop them. Unless every machine that can reach this one is trusted, "
        "stop it and use the default --host 127.0.0.1."
    )
    return url, here, warning


@cli.command(name="ui")
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="Store folder (default: the global --home, else $LOCALREG_HOME, else the user data folder).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback lets other machines read and change "
                   "the store as you, with no password (a warning says so).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--open/--no-open", "open_browser", default=False, show_default=True,
              help="Open the UI in a web browser once it is up.")
@pass_state
def ui(state: State, home: str | None, host: str, port: int, open_browser: bool) -> None:
    """Serve the web UI: the Registry App and the artifact browser.

    Browse registries, collections and versions, and link versions into
    registries, from a browser. It reads and writes the same store as the
    CLI and the Python API, and shows their changes as they happen. Only
    requests naming the address it listens on are served, and every change
    needs a token of the page it came from, so other web sites cannot use it.

    Needs the ui extra: pip install 'localreg[ui]'.

    Example:

    \b
        localreg ui
        localreg --home ./demo-store ui --port 8081 --open
    """
    try:
        import uvicorn

        from ..web import create_app
    except ImportError as e:
        raise click.ClickException(
            f"the web UI needs the 'ui' extra ({e.name} is missing): pip install 'localreg[ui]'"
        ) from None
    if home is not None:
        state.home = home
    store = state.store()
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    url, here, warning = banner(host or "0.0.0.0", sock.getsockname()[0], bound, str(store.home), current_user())
    app = create_app(store=store, host=host or "0.0.0.0", port=bound)
    if warning:
        click.echo(warning, err=True)
    also = f"; from this machine: {here}" if here != url else ""
    click.echo(f"localreg UI for {store.home} at {url} (Ctrl+C to stop{also})")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, [here]).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down cleanly, then re-raised Ctrl+C: not an error
    finally:
        sock.close()
    click.echo("Stopped.")
