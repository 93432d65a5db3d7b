"""An early warning inside the fence: network use and package installs print a marker line the
daemon turns into a `network` alert. The fence (no network namespace) is what blocks them; this
hook only makes the attempt visible. Standard library only."""

import sys as _sys

MARK = "[tinker-tui] network blocked:"


def _tinker_tui_guard(event, args):
    if event in ("socket.connect", "socket.connect_ex", "socket.sendto"):
        sock = args[0]
        fam = getattr(sock, "family", None)
        if fam is not None and int(fam) == 1:  # AF_UNIX: nothing of the host's is reachable anyway
            return
        _sys.stderr.write("%s %s %r\n" % (MARK, event, args[1] if len(args) > 1 else ""))
        _sys.stderr.flush()
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        host = args[0] if args else ""
        if host not in ("localhost", "127.0.0.1", "::1", None, ""):
            _sys.stderr.write("%s %s %r\n" % (MARK, event, host))
            _sys.stderr.flush()
    elif event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
        parts = args[1] if event == "subprocess.Popen" and len(args) > 1 else args
        text = " ".join(
            str(a) for a in (parts if isinstance(parts, (list, tuple)) else [parts]) if not isinstance(a, dict)
        )
        if "pip" in text and "install" in text:
            _sys.stderr.write("%s %s %r\n" % (MARK, "pip install", text[:200]))
            _sys.stderr.flush()


_sys.addaudithook(_tinker_tui_guard)
