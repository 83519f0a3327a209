#!/usr/bin/python3
"""The board in a box: boots the Debian guest that scripts/board/rootfs built under qemu, installs
the drippay-kiosk package in it as a technician would, and drives it from the host: a simulated
controller on the guest's UART (ttyS1) and on its emulated FTDI USB adapter, the API sandbox on
127.0.0.1 (reached by the guest only through one qemu guestfwd), the screen through qemu's
screendump, power cuts by SIGKILLing qemu. Each scenario prints one PASS/FAIL line; the last line
is `board-test: N passed, M failed`. Run by scripts/board-test (which builds what this needs)."""

import argparse
import base64
import functools
import http.server
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import tty
import urllib.request

GUEST_CONFIG = "/etc/drippay-kiosk/kiosk.toml"
GUEST_JOURNAL = "/var/lib/drippay-kiosk/journal.sqlite"
UNIT = "drippay-kiosk"
PAYLOAD_PREFIX = "https://pay.example.com/i/"
# Where the guest finds the fleet's apt repository (qemu forwards it to the host's server).
REPOSITORY_ADDRESS = "10.0.2.101"


def log(message):
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


# MARK: host-side pieces: sandbox, pty line, agent, QMP


class Sandbox:
    """The host's API sandbox (`drippay-kiosk sandbox`) on 127.0.0.1; it outlives every power cut."""

    def __init__(self, binary, token, workdir):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(os.path.join(workdir, "sandbox.log"), "w")
        self.process = subprocess.Popen(
            [binary, "sandbox", "--port", str(self.port), "--token", token],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.invoices()
                return
            except OSError:
                time.sleep(0.2)
        raise Failure(f"the API sandbox did not start on 127.0.0.1:{self.port} (see {self.log.name})")

    def request(self, method, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def invoices(self):
        answer = self.request("GET", "/_sandbox/invoices")
        return answer["data"] if isinstance(answer, dict) and "data" in answer else answer

    def pay(self, reference):
        self.request("POST", f"/_sandbox/invoices/{reference}/pay")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Repository:
    """The fleet's apt repository (scripts/apt-repo) served over http from the host on 127.0.0.1,
    as an operator's web server would; the guest reaches it only through a qemu guestfwd."""

    def __init__(self, directory, workdir):
        log_file = open(os.path.join(workdir, "repository.log"), "w")

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format, *args):
                log_file.write(f"{self.address_string()} {format % args}\n")
                log_file.flush()

        self.directory = directory
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=directory))
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, deb):
        """Adds a package as an operator does: scripts/apt-repo signs the new index."""
        result = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apt-repo"),
                                 self.directory, deb], capture_output=True, text=True)
        check(result.returncode == 0, f"scripts/apt-repo {self.directory} {deb} failed: {result.stderr[-600:]}")

    def stop(self):
        self.server.shutdown()


class Line:
    """The controller's end of a serial line: the host side of a qemu pty chardev, vmc-line."""

    def __init__(self, path, name):
        self.name = name
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.buffer = b""
        self.lines = []  # every line received, with its time

    def send(self, text):
        os.write(self.fd, (text + "\n").encode())

    def _pump(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], max(0, timeout))
        if not ready:
            return
        try:
            data = os.read(self.fd, 4096)
        except (BlockingIOError, OSError):
            return
        self.buffer += data
        while b"\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n", 1)
            text = raw.decode(errors="replace").strip("\r")
            if text:
                self.lines.append((time.time(), text))

    def expect(self, pattern, timeout, since=0):
        """The first line at index >= since matching the regex, waiting up to timeout seconds."""
        deadline = time.time() + timeout
        index = since
        while True:
            while index < len(self.lines):
                if re.fullmatch(pattern, self.lines[index][1]):
                    return index, self.lines[index][1]
                index += 1
            left = deadline - time.time()
            if left <= 0:
                seen = [text for _, text in self.lines[since:]][-8:]
                raise Failure(f"no line matching {pattern!r} on {self.name} within {timeout} s (last: {seen})")
            self._pump(min(left, 0.5))

    def drain(self, seconds=0.0):
        deadline = time.time() + seconds
        while True:
            self._pump(max(0, min(0.2, deadline - time.time())))
            if time.time() >= deadline:
                return

    def mark(self):
        self.drain()
        return len(self.lines)

    def close(self):
        os.close(self.fd)


def connect_unix(path, timeout, what, step):
    """A connected AF_UNIX stream socket to `path`, retried every `step` s until `timeout` s pass
    (qemu and the guest agent create their sockets some time after they start)."""
    deadline = time.time() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            if time.time() > deadline:
                raise Failure(f"cannot connect to {what}")
            time.sleep(step)


class Agent:
    """Runs shell commands in the guest as root over the virtio port (see guest/agent)."""

    def __init__(self, path, timeout):
        self.sock = connect_unix(path, timeout, f"the agent socket {path}", step=0.1)
        self.buffer = b""

    def _line(self, deadline):
        while b"\n" not in self.buffer:
            left = deadline - time.time()
            if left <= 0:
                raise Failure("the guest agent did not answer in time")
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                data = self.sock.recv(65536)
                if not data:
                    raise Failure("the guest agent's port closed")
                self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace").strip()

    def wait_up(self, timeout):
        deadline = time.time() + timeout
        while self._line(deadline) != "AGENT UP":
            pass

    def run(self, command, timeout=60):
        self.sock.sendall(base64.b64encode(command.encode()) + b"\n")
        deadline = time.time() + timeout
        while True:
            line = self._line(deadline)
            if line.startswith("RC "):
                parts = line.split(" ", 2)
                output = base64.b64decode(parts[2]).decode(errors="replace") if len(parts) > 2 else ""
                return int(parts[1]), output

    def ok(self, command, timeout=60):
        rc, output = self.run(command, timeout)
        check(rc == 0, f"guest command failed ({rc}): {command}\n{output.strip()[-1500:]}")
        return output


class QMP:
    def __init__(self, path, timeout=20):
        self.sock = connect_unix(path, timeout, f"qemu's QMP socket {path}", step=0.05)
        self.file = self.sock.makefile("rw")
        json.loads(self.file.readline())  # greeting
        self.command("qmp_capabilities")

    def command(self, name, **arguments):
        self.file.write(json.dumps({"execute": name, "arguments": arguments}) + "\n")
        self.file.flush()
        while True:
            answer = json.loads(self.file.readline())
            if "return" in answer:
                return answer["return"]
            if "error" in answer:
                raise Failure(f"QMP {name}: {answer['error'].get('desc')}")

    def hmp(self, line):
        return self.command("human-monitor-command", **{"command-line": line})


# MARK: the board (one qemu process per boot)


class Board:
    def __init__(self, cache, image, workdir, sandbox_port, repository_port, accel):
        self.cache = cache
        self.image = image
        self.workdir = workdir
        self.sandbox_port = sandbox_port
        self.repository_port = repository_port
        self.accel = accel
        self.process = None
        self.boots = 0

    def boot(self, extra_cmdline=""):
        self.boots += 1
        for name in ("qmp.sock", "agent.sock"):
            path = os.path.join(self.workdir, name)
            if os.path.exists(path):
                os.unlink(path)
        cmdline = ("root=/dev/vda rw console=tty0 console=ttyS0,115200 net.ifnames=0 "
                   "systemd.show_status=0 mitigations=off random.trust_cpu=on " + extra_cmdline)
        forward = (f"guestfwd=tcp:10.0.2.100:80-cmd:socat - TCP:127.0.0.1:{self.sandbox_port},"
                   f"guestfwd=tcp:{REPOSITORY_ADDRESS}:80-cmd:socat - TCP:127.0.0.1:{self.repository_port}")
        args = [
            "qemu-system-x86_64", "-accel", self.accel, "-m", "768", "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", os.path.join(self.cache, "vmlinuz"), "-initrd", os.path.join(self.cache, "initrd.img"),
            "-append", cmdline,
            "-drive", f"file={self.image},format=raw,if=virtio,cache=writeback",
            "-serial", "file:" + os.path.join(self.workdir, f"console-{self.boots}.log"),
            "-chardev", "pty,id=uart", "-serial", "chardev:uart",
            "-device", "qemu-xhci,id=xhci",
            "-chardev", "pty,id=usbser", "-device", "usb-serial,id=ftdi,chardev=usbser,bus=xhci.0",
            "-device", "VGA",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=agent,path={os.path.join(self.workdir, 'agent.sock')},server=on,wait=off",
            "-device", "virtserialport,chardev=agent,name=board-agent",
            "-device", "virtio-rng-pci",
            "-nic", f"user,model=virtio-net-pci,restrict=on,{forward}",
            "-qmp", f"unix:{os.path.join(self.workdir, 'qmp.sock')},server=on,wait=off",
        ]
        self.qemu_log = open(os.path.join(self.workdir, f"qemu-{self.boots}.log"), "w")
        self.started = time.time()
        self.process = subprocess.Popen(args, stdout=self.qemu_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.qmp = QMP(os.path.join(self.workdir, "qmp.sock"))
        ptys = {c["label"]: c["filename"] for c in self.qmp.command("query-chardev")}
        self.uart = Line(ptys["uart"].removeprefix("pty:"), "ttyS1")
        self.usb = Line(ptys["usbser"].removeprefix("pty:"), "ttyUSB0")
        self.agent = Agent(os.path.join(self.workdir, "agent.sock"), 20)
        self.agent.wait_up(900)
        return self

    def cut(self):
        """A power cut: qemu dies at once; nothing the guest had not written reaches the disk."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.close_lines()

    def shutdown(self):
        if self.process and self.process.poll() is None:
            try:
                self.agent.run("systemctl poweroff --no-block", timeout=10)
                self.process.wait(60)
            except (Failure, subprocess.TimeoutExpired, OSError):
                self.process.kill()
                self.process.wait()
        self.close_lines()

    def close_lines(self):
        for line in (getattr(self, "uart", None), getattr(self, "usb", None)):
            if line:
                try:
                    line.close()
                except OSError:
                    pass
        self.uart = self.usb = None

    def screendump(self, name):
        path = os.path.join(self.workdir, name)
        self.qmp.command("screendump", filename=path)
        return path


# MARK: images (PPM from screendump)


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    # P6\n<w> <h>\n<max>\n<bytes>
    header = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    width, height = int(header.group(1)), int(header.group(2))
    return width, height, data[header.end():]


def changed_rows(a, b):
    wa, ha, pa = a
    wb, hb, pb = b
    if (wa, ha) != (wb, hb):
        return list(range(max(ha, hb)))
    stride = wa * 3
    return [y for y in range(ha) if pa[y * stride:(y + 1) * stride] != pb[y * stride:(y + 1) * stride]]


def qr_side(width, height):
    """The pay screen's QR area (x, y, w, h), as ScreenRenderer.payLayout places it: landscape, a
    square on the left of the full height; portrait, on top of the full width."""
    if width >= height:
        side = min(height, width * 2 // 3)
        return 0, (height - side) // 2, side, side
    side = min(width, height * 2 // 3)
    return (width - side) // 2, 0, side, side


def changed_pixels(a, b, area):
    """(x, y) of every pixel inside area = (x, y, w, h) that differs between two screendumps."""
    (wa, ha, pa), (wb, hb, pb) = a, b
    check((wa, ha) == (wb, hb), f"the screen changed size: {wa}x{ha} -> {wb}x{hb}")
    x0, y0, w, h = area
    found = []
    for y in range(y0, y0 + h):
        start = (y * wa + x0) * 3
        row_a, row_b = pa[start:start + w * 3], pb[start:start + w * 3]
        if row_a != row_b:
            found += [(x0 + i // 3, y) for i in range(0, w * 3, 3) if row_a[i:i + 3] != row_b[i:i + 3]]
    return found


def describe_pixels(pixels):
    if not pixels:
        return "no pixel"
    xs, ys = [x for x, _ in pixels], [y for _, y in pixels]
    return f"{len(pixels)} pixels at x {min(xs)}-{max(xs)}, y {min(ys)}-{max(ys)}"


def zbar(path):
    result = subprocess.run(["zbarimg", "--quiet", "--raw", path], capture_output=True, text=True)
    return result.stdout.strip()


# MARK: the scenarios


class Run:
    def __init__(self, args):
        self.args = args
        self.results = []
        self.timings = []
        self.rng = random.Random(args.seed)
        self.dispenses = {}  # vend id -> DISPENSE lines seen, across every boot
        self.vend_counter = 0

    def scenario(self, name, function, *arguments):
        start = time.time()
        try:
            detail = function(*arguments) or ""
            ok = True
        except Failure as error:
            detail = str(error)
            ok = False
        except Exception as error:  # a scenario that crashed failed; say how
            detail = f"{type(error).__name__}: {error}"
            ok = False
        took = time.time() - start
        self.results.append(ok)
        self.timings.append((name, took))
        print(f"board-test: {'PASS' if ok else 'FAIL'} {name} ({took:.0f} s){': ' + detail if detail else ''}",
              flush=True)
        return ok

    def vend_id(self, kind):
        self.vend_counter += 1
        return f"B{self.args.seed % 100000}-{kind}-{self.vend_counter}"

    # guest helpers

    def unit_show(self, *properties):
        out = self.board.agent.ok(f"systemctl show {UNIT} " + " ".join(f"-p {p}" for p in properties))
        return dict(line.split("=", 1) for line in out.strip().splitlines() if "=" in line)

    def wait_unit(self, condition, timeout, what):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.unit_show("ActiveState", "SubState", "StatusText", "NRestarts", "MainPID", "ExecMainStatus",
                                  "Result")
            if condition(last):
                return last
            time.sleep(1)
        raise Failure(f"{what}: not within {timeout} s (unit: {last})")

    def set_serial_device(self, device):
        self.board.agent.ok(f"sed -i 's|^device = \"/dev/tty[^\"]*\" *# board-serial|device = \"{device}\" # board-serial|' "
                            f"{GUEST_CONFIG} && grep -q '{device}' {GUEST_CONFIG}")

    def sql(self, query):
        return self.board.agent.ok(f"sqlite3 -readonly {GUEST_JOURNAL} \"{query}\"").strip()

    # provisioning

    def install(self):
        """From the fleet's signed repository, set up as the README says (the keyring and the
        .sources file are on the image, like the technician's config). The board reaches no
        Debian mirror (restrict=on): its own sources go, and the Depends are pre-installed."""
        a = self.board.agent
        a.ok("rm -f /etc/apt/sources.list")
        update = a.ok("apt-get update 2>&1", timeout=120)
        check(f"http://{REPOSITORY_ADDRESS} bookworm InRelease" in update and "W:" not in update,
              f"apt-get update did not read the signed repository cleanly: {update[-800:]}")
        out = a.ok("apt-get install -y drippay-kiosk 2>&1; dpkg -s drippay-kiosk | grep -E '^(Status|Version)'",
                   timeout=300)
        check("install ok installed" in out, f"the package did not install: {out[-800:]}")
        a.ok(f"systemctl enable {UNIT} && systemctl restart --no-block {UNIT}")
        return "from the signed repository: " + out.strip().splitlines()[-1]

    def late_framebuffer(self):
        # This boot has bochs (the VGA's DRM driver) blacklisted: /dev/fb0 is not there.
        a = self.board.agent
        check(a.run("test -e /dev/fb0")[0] != 0, "/dev/fb0 exists although bochs is blacklisted")
        state = self.wait_unit(lambda u: "display unavailable" in u.get("StatusText", ""), 90,
                               "out of service for the missing display")
        time.sleep(8)
        state = self.unit_show("ActiveState", "NRestarts", "StatusText")
        check(state["ActiveState"] == "active" and state["NRestarts"] == "0",
              f"the daemon did not stay up without /dev/fb0: {state}")
        mark = self.board.uart.mark()
        a.ok("modprobe bochs && udevadm settle && test -e /dev/fb0")
        self.wait_unit(lambda u: u.get("StatusText") == "waiting for customer", 60, "back in service after /dev/fb0 came")
        self.board.uart.expect(r"READY", 30, mark)
        state = self.unit_show("NRestarts")
        check(state["NRestarts"] == "0", f"the unit restarted: {state}")
        return "out of service while /dev/fb0 was missing, in service once it came, 0 restarts"

    def started_under_hardening(self):
        a = self.board.agent
        status = a.run(f"systemctl status --no-pager {UNIT}")[1]
        check("active (running)" in status, f"not running: {status[:600]}")
        check(re.search(r'Status: "waiting for customer"', status), f"no STATUS= line in systemctl status: {status[:800]}")
        unit = a.ok(f"systemctl cat {UNIT}")
        for setting in ("DevicePolicy=closed", "ProtectSystem=strict", "DynamicUser=yes", "SystemCallFilter=@system-service",
                        "NoNewPrivileges=yes", "CapabilityBoundingSet="):
            check(setting in unit, f"the installed unit lacks {setting}")
        check("Drop-In" not in status, "the unit runs with drop-ins; the test wants the shipped one")
        return "active (running), Status: \"waiting for customer\""

    def thread_priority_lines(self):
        out = self.board.agent.run(f"journalctl -b --no-pager -o cat -u {UNIT} | grep -c 'Failed to set thread priority'")[1]
        count = int(out.strip() or "0")
        check(count == 0, f"{count} 'Failed to set thread priority' lines in the unit's journal")
        return "0 lines"

    def ports(self):
        out = self.board.agent.ok("/usr/bin/drippay-kiosk ports 2>&1 || /usr/local/bin/drippay-kiosk ports")
        check(re.search(r"/dev/ttyUSB0\s+usb\s+0403:6001", out), f"no FTDI 0403:6001 on /dev/ttyUSB0 in: {out}")
        check("/dev/ttyS1" in out, f"no /dev/ttyS1 in: {out}")
        return "ttyUSB0 usb 0403:6001 and ttyS1 listed"

    def pending_reference(self, trade_before):
        deadline = time.time() + 20
        while time.time() < deadline:
            fresh = [i for i in self.sandbox.invoices() if i.get("status") == "pending" and i.get("reference") not in trade_before]
            if fresh:
                return fresh[-1]["reference"]
            time.sleep(0.3)
        raise Failure("no new pending invoice at the sandbox")

    def known_references(self):
        return {i.get("reference") for i in self.sandbox.invoices()}

    def vend(self, line, outcome, screen_check=False):
        vid = self.vend_id(outcome)
        before = self.known_references()
        mark = line.mark()
        line.send(f"VEND {vid} 5 1.50")
        line.expect(rf"ACCEPT {vid}", 30, mark)
        reference = self.pending_reference(before)
        extra = ""
        if screen_check:
            extra = self.pay_screen(reference)
        if outcome == "paid" or outcome == "failed":
            self.sandbox.pay(reference)
            index, _ = line.expect(rf"DISPENSE {vid}", 30, mark)
            self.dispenses[vid] = self.dispenses.get(vid, 0) + 1
            if outcome == "paid":
                line.send(f"DISPENSED {vid}")
                want = "dispensed"
            else:
                line.send(f"FAILED {vid} jam")
                want = "refund_due"
        elif outcome == "abort":
            line.send(f"ABORT {vid}")
            line.expect(rf"DENY {vid} aborted", 30, mark)
            want = "cancelled"
        elif outcome == "timeout":
            line.expect(rf"DENY {vid} timeout", self.args.payment_timeout + 30, mark)
            want = "cancelled"
        deadline = time.time() + 20
        while True:
            state = self.sql(f"SELECT state FROM sessions WHERE vend_id = '{vid}'")
            if state == want or time.time() > deadline:
                break
            time.sleep(0.5)
        check(state == want, f"vend {vid} ({outcome}) ended as {state!r} in the journal, not {want}")
        return f"{vid}: {want}{extra}"

    def pay_screen(self, reference):
        b = self.board
        # ACCEPT goes out once the pay screen is queued; it is drawn a moment later.
        deadline = time.time() + 20
        while True:
            first = b.screendump("pay-1.ppm")
            decoded = zbar(first)
            if decoded or time.time() > deadline:
                break
            time.sleep(0.5)
        check(decoded == PAYLOAD_PREFIX + reference, f"the pay screen decodes to {decoded!r}, not {PAYLOAD_PREFIX + reference!r}")
        # Nothing but the daemon draws: a second later the QR side (code and quiet zone) is the
        # same to the pixel. (The text console's blinking cursor, drawn by fbcon's timer, changed
        # 16 pixels of the quiet zone here.) On the text side the countdown redraws once a second:
        # the rows it changes by itself are allowed to change.
        time.sleep(1.1)
        second = b.screendump("pay-2.ppm")
        self.same_qr_side(first, second, "the QR side of the pay screen changed within 1.1 s")
        countdown = set(changed_rows(read_ppm(first), read_ppm(second)))
        b.agent.ok("echo '<2>board-test: a kernel message during the pay screen' > /dev/kmsg")
        time.sleep(1.5)
        third = b.screendump("pay-3.ppm")
        self.same_qr_side(second, third, "the QR side changed after a kernel message")
        moved = [y for y in changed_rows(read_ppm(second), read_ppm(third)) if y not in countdown]
        check(not moved, f"a kernel message changed {len(moved)} pixel rows outside the countdown "
                         f"(rows {moved[:3]}...{moved[-3:]}; see {third})")
        check(zbar(third) == PAYLOAD_PREFIX + reference, "the pay screen no longer decodes after a kernel message")
        # The getty on the display's VT, as on a stock board: systemd switches the VT back to text
        # mode and shows the cursor when a getty starts or stops (TTYReset=), and hangs it up
        # (TTYVHangup=). Its login prompt and blinking cursor came over the QR (issue 26 item 6).
        # The daemon takes the VT back at once (VT_WAITEVENT) and redraws.
        getty = b.agent.run("systemctl is-active getty@tty1.service")[1].strip()
        check(getty == "active", f"getty@tty1 is {getty!r} on the board, not active as on a stock board")
        since = b.agent.ok("date +%s.%N").strip()
        b.agent.ok("systemctl restart getty@tty1.service")
        time.sleep(1.5)
        fourth = b.screendump("pay-4.ppm")
        time.sleep(1.1)
        fifth = b.screendump("pay-5.ppm")
        self.same_qr_side(fourth, fifth, "the QR side changed within 1.1 s after getty@tty1 restarted")
        self.same_qr_side(third, fifth, "the QR side differs from before getty@tty1 restarted")
        check(zbar(fifth) == PAYLOAD_PREFIX + reference, "the pay screen no longer decodes after getty@tty1 restarted")
        retaken = b.agent.run(f"journalctl --no-pager -o cat -u {UNIT} --since @{since} | grep -c 'text console (/dev/tty0) was'")[1].strip()
        check(retaken not in ("", "0"), "getty@tty1 restarted, but the daemon logged no retake of /dev/tty0; "
                                        f"{self.console_state()}")
        return (f"; QR decodes to the API's reference {reference}; its side identical 1.1 s later, after a "
                f"/dev/kmsg message (no pixel changed outside the countdown), and after getty@tty1 restarted on the "
                f"display's VT (the daemon took the VT back {retaken} time(s))")

    def same_qr_side(self, before, after, failure):
        """Fails with `failure` unless the QR side (code and quiet zone) of two screendumps is the
        same to the pixel."""
        width, height, _ = read_ppm(before)
        changed = changed_pixels(read_ppm(before), read_ppm(after), qr_side(width, height))
        if changed:
            raise Failure(f"{failure}: {describe_pixels(changed)} (see {before} and {after}); {self.console_state()}")

    def console_state(self):
        """What a failed screen check needs to know: the foreground VT's mode (KDGETMODE: 0 text,
        1 graphics), fbcon's cursor blink setting and the daemon's display lines."""
        mode = self.board.agent.run("perl -e 'open(my $f, \"<\", \"/dev/tty1\") or die $!; my $m = pack(\"i\", -1); "
                                    "ioctl($f, 0x4B3B, $m) or die \"KDGETMODE: $!\"; print unpack(\"i\", $m)'")[1].strip()
        blink = self.board.agent.run("cat /sys/class/graphics/fbcon/cursor_blink")[1].strip()
        lines = self.board.agent.run(f"journalctl -b --no-pager -o cat -u {UNIT} | grep -E 'display|tty0' | tail -6")[1]
        return f"VT mode {mode}, fbcon cursor_blink {blink}, the daemon's display lines: {lines.strip()!r}"

    def vends_over_uart(self):
        results = [self.vend(self.board.uart, "paid", screen_check=False),
                   self.vend(self.board.uart, "abort"),
                   self.vend(self.board.uart, "failed"),
                   self.vend(self.board.uart, "timeout")]
        return "; ".join(results)

    def pay_screen_scenario(self):
        return self.vend(self.board.uart, "paid", screen_check=True)

    def upgrade_with_vend_open(self):
        """A fleet update while a customer is paying: the operator publishes a newer version, the
        board runs `apt-get update && apt-get upgrade`, the package's postinst restarts the unit
        (try-restart), the new daemon finds the session in the journal, the controller claims its
        vend again (vmc-line), and the payment made after the upgrade dispenses once. The newer
        version is the same binary repacked with a higher version (scripts/board-test): what is
        tested is apt, the signature and the maintainer scripts, not new code."""
        a, line = self.board.agent, self.board.uart
        old_version = a.ok("dpkg-query -W -f='${Version}' drippay-kiosk").strip()
        new_version = subprocess.run(["dpkg-deb", "-f", self.args.newer_deb, "Version"], capture_output=True,
                                     text=True, check=True).stdout.strip()
        # The upgrade takes ~50 s under emulation (unpack, stop, start): longer than the board's
        # payment timeout, and the new daemon's READY can come later than its resume grace. Both
        # are raised for this vend (the timeout below board-uart.toml's machine_timeout_s 120; a
        # restart reads them); the board's own values come back with
        # the next start (the following scenarios restart the unit; a power cut reboots).
        a.ok(f"cp {GUEST_CONFIG} /root/kiosk.toml.before-upgrade && sed -i -e 's/^payment_timeout_s = .*/payment_timeout_s = 110/' "
             f"-e 's/^resume_grace_s = .*/resume_grace_s = 60/' {GUEST_CONFIG} && systemctl restart {UNIT}", timeout=90)
        try:
            self.wait_unit(lambda u: u.get("StatusText") == "waiting for customer", 90, "started with the longer timeouts")
            before = self.unit_show("MainPID")
            self.repository.publish(self.args.newer_deb)
            # Fetched before the vend, as unattended-upgrades downloads first: the vend waits only for
            # the unpack and the restart.
            a.ok("apt-get update 2>&1 && apt-get -y --download-only upgrade 2>&1", timeout=180)
            vid = self.vend_id("upgrade")
            known = self.known_references()
            mark = line.mark()
            line.send(f"VEND {vid} 5 1.50")
            line.expect(rf"ACCEPT {vid}", 30, mark)
            reference = self.pending_reference(known)
            started = time.time()
            out = a.ok("apt-get -y upgrade 2>&1", timeout=300)
            check(f"Unpacking drippay-kiosk ({new_version}) over ({old_version})" in out, f"no upgrade: {out[-800:]}")
            line.expect(r"OUT-OF-SERVICE shutting down", 30, mark)
            ready, _ = line.expect(r"READY", 90, mark)
            took = line.lines[ready][0] - started
            # The controller claims the vend it still waits on (docs/vmc-line.md).
            line.send(f"VEND {vid} 5 1.50")
            line.expect(rf"ACCEPT {vid}", 30, ready)
            self.sandbox.pay(reference)
            line.expect(rf"DISPENSE {vid}", 30, ready)
            self.dispenses[vid] = self.dispenses.get(vid, 0) + 1
            line.send(f"DISPENSED {vid}")
            after = self.unit_show("MainPID", "ActiveState")
            check(after["MainPID"] != before["MainPID"] and after["ActiveState"] == "active",
                  f"the unit was not restarted by the upgrade: {before} -> {after}")
            installed = a.ok("dpkg-query -W -f='${Version}' drippay-kiosk").strip()
            check(installed == new_version, f"dpkg says {installed} is installed, not {new_version}")
            deadline = time.time() + 20
            while True:
                row = self.sql(f"SELECT state, reference FROM sessions WHERE vend_id = '{vid}'")
                if row.startswith("dispensed|") or time.time() > deadline:
                    break
                time.sleep(0.5)
            check(row == f"dispensed|{reference}", f"vend {vid}: the journal holds {row!r}, not dispensed|{reference}")
            kinds = self.sql(f"SELECT group_concat(kind, ' ') FROM (SELECT kind FROM session_events WHERE trade_no = "
                             f"(SELECT trade_no FROM sessions WHERE vend_id = '{vid}') ORDER BY id)").split()
            remaining = iter(kinds)
            check(all(kind in remaining for kind in ("recovering", "resumed", "dispensed")),
                  f"vend {vid}: the journal's events are not recovering, resumed, dispensed in that order: {' '.join(kinds)}")
            invoices = [i for i in self.sandbox.invoices() if i.get("reference") not in known]
            check(len(invoices) == 1, f"{len(invoices)} invoices for one vend across the upgrade")
            dispenses = [text for _, text in line.lines[mark:] if text == f"DISPENSE {vid}"]
            check(len(dispenses) == 1, f"{len(dispenses)} DISPENSE lines for vend {vid}")
        finally:
            a.ok(f"cp /root/kiosk.toml.before-upgrade {GUEST_CONFIG}")
        return (f"{old_version} -> {new_version} with vend {vid} open: READY {took:.0f} s after apt-get upgrade "
                f"began, re-claimed, paid, dispensed once ({' '.join(kinds)})")

    def watchdog(self):
        a = self.board.agent
        before = self.unit_show("MainPID", "NRestarts")
        a.ok(f"kill -STOP {before['MainPID']}")
        mark = self.board.uart.mark()
        state = self.wait_unit(lambda u: u["MainPID"] not in ("0", before["MainPID"]) and u["ActiveState"] == "active"
                               and u["SubState"] == "running", 120, "restart by the watchdog")
        check(int(state["NRestarts"]) == int(before["NRestarts"]) + 1, f"restarts {before} -> {state}")
        self.board.uart.expect("READY", 60, mark)
        reason = a.run(f"journalctl -b --no-pager -u {UNIT} | grep -c 'Watchdog timeout'")[1].strip()
        check(reason not in ("", "0"), "systemd logged no watchdog timeout")
        return f"PID {before['MainPID']} stopped, watchdog restarted it as {state['MainPID']}"

    def stop_drains(self):
        a = self.board.agent
        a.ok(f"systemctl stop {UNIT}", timeout=60)
        state = self.unit_show("ExecMainStatus", "Result", "ActiveState")
        log_lines = a.run(f"journalctl -b --no-pager -o cat -u {UNIT} -n 30")[1]
        a.ok(f"systemctl start --no-block {UNIT}")
        check(state["ExecMainStatus"] == "0" and state["Result"] == "success", f"stop: {state}")
        check("shutting down" in log_lines and "stopped" in log_lines, f"no drain in the log: {log_lines[-600:]}")
        self.wait_unit(lambda u: u.get("StatusText") == "waiting for customer", 60, "started again")
        return "exit 0, Result=success, drained (shutting down ... stopped)"

    def broken_config(self):
        a = self.board.agent
        a.ok(f"cp {GUEST_CONFIG} /root/kiosk.toml.good && sed -i 's/^payment_timeout_s/paymnet_timeout_s/' {GUEST_CONFIG}")
        try:
            a.run(f"systemctl restart {UNIT}", timeout=60)
            time.sleep(12)  # RestartSec is 2 s: a loop would have restarted several times by now
            state = self.unit_show("ActiveState", "ExecMainStatus", "NRestarts", "Result")
            status = a.run(f"systemctl status --no-pager -n 20 {UNIT}")[1]
            check(state["ActiveState"] == "failed", f"not failed: {state}")
            check(state["NRestarts"] == "0", f"restarted {state['NRestarts']} times")
            check(state["ExecMainStatus"] == "78", f"exit status {state['ExecMainStatus']}, not 78")
            check(re.search(r"kiosk\.toml:\d+:", status), f"no FILE:LINE message in systemctl status: {status[-900:]}")
        finally:
            a.ok(f"cp /root/kiosk.toml.good {GUEST_CONFIG} && systemctl reset-failed {UNIT}; systemctl start --no-block {UNIT}")
        self.wait_unit(lambda u: u.get("StatusText") == "waiting for customer", 90, "started again after the fix")
        line = re.search(r"kiosk\.toml:\d+:[^\n]*", status).group(0)
        return f"failed, exit 78, 0 restarts, status shows {line[:90]!r}"

    def device_errors(self):
        """EPERM (a device policy) and EACCES (permissions) on the serial device name different cures."""
        a = self.board.agent
        binary = a.ok(f"systemctl show -p ExecStart --value {UNIT} | sed -n 's/.*path=\\([^ ;]*\\).*/\\1/p'").strip()
        check(binary.startswith("/"), f"no binary in the unit's ExecStart: {binary!r}")
        a.ok("mkdir -p /etc/board-probe && sed "
             "-e 's|^device = \"/dev/tty[^\"]*\" *# board-serial|device = \"/dev/ttyS2\" # board-serial|' "
             "-e 's|^path = \"/var/lib/drippay-kiosk/journal.sqlite\"|path = \"/tmp/probe-journal.sqlite\"|' "
             f"{GUEST_CONFIG} > /etc/board-probe/kiosk.toml && cp -r /etc/drippay-kiosk/hardware-profiles /etc/board-probe/")
        found = {}
        for name, properties in (
            ("policy", "-p DevicePolicy=closed -p DeviceAllow=char-fb"),  # root, but no DeviceAllow for ttyS2: EPERM
            ("permissions", "-p DynamicUser=yes"),  # not in dialout: EACCES
        ):
            unit = f"board-probe-{name}"
            a.ok(f"systemd-run --unit {unit} {properties} -p StateDirectory={unit} "
                 f"-p LoadCredential=drippay-token:/etc/drippay-kiosk/token {binary} run --config /etc/board-probe/kiosk.toml")
            deadline = time.time() + 60
            line = ""
            while time.time() < deadline and not line:
                time.sleep(2)
                line = a.run(f"journalctl -b --no-pager -o cat -u {unit} | grep -m1 'serial device /dev/ttyS2'")[1].strip()
            a.run(f"systemctl stop {unit}; systemctl reset-failed {unit}")
            check(line, f"{name}: no message about /dev/ttyS2 from the daemon")
            found[name] = line
        check("DeviceAllow" in found["policy"] and "dialout" not in found["policy"],
              f"EPERM from the device policy named the wrong cure: {found['policy']}")
        check("dialout" in found["permissions"] and "DeviceAllow" not in found["permissions"],
              f"EACCES from the permissions named the wrong cure: {found['permissions']}")
        return "EPERM names DeviceAllow=, EACCES names the dialout group"

    def usb_vend_and_replug(self):
        a = self.board.agent
        self.set_serial_device("/dev/ttyUSB0")
        mark = self.board.usb.mark()
        a.ok(f"systemctl restart {UNIT}", timeout=60)
        self.board.usb.expect("READY", 60, mark)
        done = self.vend(self.board.usb, "paid")
        mark = self.board.usb.mark()
        self.board.qmp.command("device_del", id="ftdi")
        self.wait_unit(lambda u: "serial link down" in u.get("StatusText", ""), 30, "out of service after the unplug")
        self.board.qmp.command("device_add", driver="usb-serial", id="ftdi", chardev="usbser", bus="xhci.0")
        self.wait_unit(lambda u: u.get("StatusText") == "waiting for customer", 60, "back after the replug")
        self.board.usb.expect("READY", 30, mark)
        again = self.vend(self.board.usb, "paid")
        return f"{done}; unplugged: out of service; replugged: back; {again}"

    def back_on_the_uart(self):
        mark = self.board.uart.mark()
        self.set_serial_device("/dev/ttyS1")
        self.board.agent.ok(f"systemctl restart {UNIT}", timeout=60)
        self.board.uart.expect("READY", 60, mark)

    def token_nowhere(self):
        secret = self.args.token.split("|", 1)[1]
        rc, out = self.board.agent.run(f"journalctl --no-pager -o export | grep -c -F '{secret}'")
        count = int(out.strip() or "0")
        check(count == 0, f"the token's secret is in journald {count} times")
        rc, out = self.board.agent.run(f"journalctl --no-pager -o export | grep -c -F '{self.args.token.split('|', 1)[0]}|'")
        return "the secret appears in no journald field (all boots)"

    def journal_in_state_directory(self):
        a = self.board.agent
        state_dir = a.ok(f"systemctl show -p StateDirectory --value {UNIT}").strip()
        check(state_dir == "drippay-kiosk", f"StateDirectory={state_dir}")
        out = a.ok(f"readlink -f {GUEST_JOURNAL} && stat -c '%U %a' /var/lib/private/drippay-kiosk")
        check(out.splitlines()[0] == "/var/lib/private/drippay-kiosk/journal.sqlite", f"journal at {out}")
        check(self.sql("PRAGMA quick_check") == "ok", "quick_check failed")
        return f"{out.splitlines()[0]} ({out.splitlines()[1]})"

    # power cuts

    def power_cuts(self):
        count = self.args.cuts
        print(f"board-test: power cuts: {count} with seed {self.args.seed}", flush=True)
        boot_times = []
        violations = []
        phases = ["idle", "after-vend", "after-accept", "after-pay", "after-dispense", "after-dispensed"]
        for n in range(1, count + 1):
            b = self.board
            phase = self.rng.choice(phases)
            delay = self.rng.uniform(0, 1.5)
            vid = self.vend_id("cut")
            mark = b.uart.mark()
            try:
                if phase != "idle":
                    before = self.known_references()
                    b.uart.send(f"VEND {vid} 5 1.50")
                    if phase != "after-vend":
                        b.uart.expect(rf"ACCEPT {vid}", 30, mark)
                        if phase != "after-accept":
                            reference = self.pending_reference(before)
                            self.sandbox.pay(reference)
                            if phase != "after-pay":
                                b.uart.expect(rf"DISPENSE {vid}", 30, mark)
                                if phase == "after-dispensed":
                                    b.uart.send(f"DISPENSED {vid}")
                time.sleep(delay)
            except Failure as error:
                violations.append(f"cut {n}: before the cut: {error}")
            self.count_dispenses(b.uart, mark)
            b.cut()
            log(f"cut {n}/{count}: {phase} + {delay:.2f} s")
            # The journal as the cut left it, read from the disk image before the next boot.
            offline = offline_quick_check(b.image, self.args.workdir)
            if offline != "ok":
                violations.append(f"cut {n}: PRAGMA quick_check on the image after the cut: {offline[:200]}")
            start = time.time()
            b.boot()
            try:
                index, _ = b.uart.expect("READY", 600)
                boot_times.append(b.uart.lines[index][0] - b.started)
            except Failure as error:
                violations.append(f"cut {n}: no READY after the boot: {error}")
            # The controller re-claims the vend it was waiting on (contract: a VEND with a known id).
            if phase in ("after-vend", "after-accept", "after-pay"):
                m2 = b.uart.mark()
                b.uart.send(f"VEND {vid} 5 1.50")
                try:
                    _, answer = b.uart.expect(rf"(ACCEPT|DENY|DISPENSE) {vid}.*", 40, m2)
                    if answer.startswith("ACCEPT"):
                        # still waiting for payment: let it time out (or the paid one dispense)
                        b.uart.expect(rf"(DENY|DISPENSE) {vid}.*", self.args.payment_timeout + 40, m2)
                except Failure as error:
                    violations.append(f"cut {n}: re-claim of {vid}: {error}")
                self.count_dispenses(b.uart, m2, answer_dispensed=True)
            violations += self.after_cut(n)
        for vid, seen in self.dispenses.items():
            if seen > 1:
                violations.append(f"{seen} DISPENSE lines for vend {vid}")
        summary = (f"{count} cuts, seed {self.args.seed}, {len(violations)} violations; boot to READY "
                   f"{min(boot_times):.0f}-{max(boot_times):.0f} s (mean {sum(boot_times) / len(boot_times):.0f} s)"
                   if boot_times else f"{count} cuts, seed {self.args.seed}, no READY measured")
        self.boot_times = boot_times
        check(not violations, summary + ": " + "; ".join(violations[:8]))
        return summary

    def count_dispenses(self, line, mark, answer_dispensed=False):
        line.drain(0.2)
        for _, text in line.lines[mark:]:
            m = re.fullmatch(r"DISPENSE (\S+)", text)
            if m:
                self.dispenses[m.group(1)] = self.dispenses.get(m.group(1), 0) + 1
                if answer_dispensed:
                    line.send(f"DISPENSED {m.group(1)}")
        # count each line once
        del line.lines[mark:]

    def after_cut(self, n):
        problems = []
        a = self.board.agent
        qc = a.run(f"sqlite3 -readonly {GUEST_JOURNAL} 'PRAGMA quick_check'")[1].strip()
        if qc != "ok":
            problems.append(f"cut {n}: quick_check: {qc[:200]}")
        # Settle: open sessions are re-claimed or expire (resume grace + payment timeout).
        deadline = time.time() + self.args.payment_timeout + 60
        while time.time() < deadline:
            open_sessions = a.run(f"sqlite3 -readonly {GUEST_JOURNAL} \"SELECT count(*) FROM sessions WHERE state NOT IN "
                                  f"('dispensed','cancelled','refund_due','dispense_unknown','failed')\"")[1].strip()
            pending = [i for i in self.sandbox.invoices() if i.get("status") == "pending"]
            if open_sessions == "0" and not pending:
                break
            self.board.uart.drain(1)
            self.count_dispenses(self.board.uart, 0, answer_dispensed=True)
        else:
            problems.append(f"cut {n}: not settled: {open_sessions} open sessions, {len(pending)} pending invoices")
        paid = {i["reference"] for i in self.sandbox.invoices() if i.get("status") == "paid"}
        rows = a.run(f"sqlite3 -readonly {GUEST_JOURNAL} \"SELECT reference, state FROM sessions WHERE reference IS NOT NULL\"")[1]
        states = dict(line.split("|", 1) for line in rows.strip().splitlines() if "|" in line)
        for reference in paid:
            if reference in states and states[reference] not in ("dispensed", "refund_due", "dispense_unknown"):
                problems.append(f"cut {n}: paid invoice {reference} is {states[reference]} in the journal")
        return problems


def offline_quick_check(image, workdir):
    """PRAGMA quick_check on a copy of the journal (with its WAL) taken from the powered-off image."""
    target = os.path.join(workdir, "journal-after-cut")
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    # debugfs reads the file system as it is on the disk, without replaying ext4's own journal: replay
    # it on a copy first, as the next mount would.
    copy = os.path.join(target, "disk.img")
    subprocess.run(["cp", "--sparse=always", image, copy], check=True)
    subprocess.run(["e2fsck", "-E", "journal_only", "-p", copy], capture_output=True)
    for name in ("journal.sqlite", "journal.sqlite-wal"):
        subprocess.run(["debugfs", "-R", f"dump /var/lib/private/drippay-kiosk/{name} {os.path.join(target, name)}", copy],
                       capture_output=True)
    os.unlink(copy)
    database = os.path.join(target, "journal.sqlite")
    if not os.path.exists(database) or os.path.getsize(database) == 0:
        return "no journal on the image"
    result = subprocess.run(["sqlite3", database, "PRAGMA quick_check"], capture_output=True, text=True)
    return (result.stdout + result.stderr).strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--repo", required=True, help="the signed apt repository holding the package (scripts/apt-repo)")
    parser.add_argument("--newer-deb", required=True, help="the same package with a higher version, published "
                        "to the repository during the upgrade scenario")
    parser.add_argument("--host-binary", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--cuts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--accel", default="tcg")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--payment-timeout", type=int, default=20)
    parser.add_argument("--unit", help="a unit file installed over the package's in /etc/systemd/system "
                        "(to show a fault of an older unit)")
    parser.add_argument("--started", type=int, default=0, help="seconds the wrapper had spent before (rootfs, build)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    args.token = f"7|board{random.Random(args.seed).randrange(10**12):012d}secret"
    os.makedirs(args.workdir, exist_ok=True)
    # Stopped from outside (CI's time limit, Ctrl-C): still power the board off and stop the sandbox.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Run(args)
    image = os.path.join(args.workdir, "board.img")
    prepare_image(args, image)
    run.sandbox = Sandbox(args.host_binary, args.token, args.workdir)
    run.repository = Repository(args.repo, args.workdir)
    run.board = Board(args.cache, image, args.workdir, run.sandbox.port, run.repository.port, args.accel)
    only = set(filter(None, args.only.split(",")))
    want = lambda name: not only or name in only
    t0 = time.time()
    try:
        run.board.boot(extra_cmdline="modprobe.blacklist=bochs")
        log(f"first boot: agent up after {time.time() - t0:.0f} s")
        if not run.scenario("package installs from the signed apt repository", run.install):
            raise Failure("no package, nothing more to test")
        if not want("late_framebuffer"):
            run.board.agent.ok("modprobe bochs && udevadm settle")  # the display, without that scenario
        steps = [
            ("late /dev/fb0: out of service, then back by itself", run.late_framebuffer),
            ("unit under full hardening: READY, STATUS= in systemctl status", run.started_under_hardening),
            ("drippay-kiosk ports lists the FTDI 0403:6001 and ttyS1", run.ports),
            ("vends over the UART: paid, abort, failed, timeout", run.vends_over_uart),
            ("pay screen: screendump decodes to the API's code; /dev/kmsg and a getty restart change no pixel", run.pay_screen_scenario),
            ("no 'Failed to set thread priority' lines", run.thread_priority_lines),
            ("EPERM from the device policy names DeviceAllow, not dialout", run.device_errors),
            ("apt-get upgrade from the repository with a vend open: resumed, paid, dispensed once",
             run.upgrade_with_vend_open),
            ("vends over the USB adapter; unplug and replug mid-idle", run.usb_vend_and_replug),
            ("watchdog restarts a stopped daemon", run.watchdog),
            ("systemctl stop drains and exits 0", run.stop_drains),
            ("broken config: failed, exit 78, FILE:LINE in status, no restart loop", run.broken_config),
            ("journal in the StateDirectory", run.journal_in_state_directory),
        ]
        for name, step in steps:
            if want(step.__name__):
                run.scenario(name, step)
            if step == run.usb_vend_and_replug and want(step.__name__):
                run.back_on_the_uart()
        if args.cuts > 0 and want("power_cuts"):
            run.scenario(f"power cuts: at most one DISPENSE per vend, paid ends settled, nothing pending, quick_check ok",
                         run.power_cuts)
        if want("token_nowhere"):
            run.scenario("the token appears nowhere in journald", run.token_nowhere)
    except Failure as error:
        print(f"board-test: FAIL setup: {error}", flush=True)
        run.results.append(False)
    finally:
        if run.board.process:
            run.board.shutdown()
        run.sandbox.stop()
        run.repository.stop()
    for name, took in run.timings:
        log(f"{took:6.0f} s  {name}")
    passed = sum(1 for ok in run.results if ok)
    failed = len(run.results) - passed
    log(f"{time.time() - t0:6.0f} s  all scenarios (plus {args.started} s before them)")
    if failed:
        print(f"board-test: logs, console output and screendumps kept in {args.workdir}", flush=True)
    print(f"board-test: {passed} passed, {failed} failed")
    return 1 if failed else 0


def prepare_image(args, image):
    """A fresh copy of the cached base image, with the package and a technician's files added."""
    shutil.copyfile(os.path.join(args.cache, "base.img"), image)
    here = os.path.dirname(os.path.abspath(__file__))
    staging = os.path.join(args.workdir, "files")
    os.makedirs(staging, exist_ok=True)
    with open(os.path.join(here, "kiosk.toml")) as f:
        config = f.read().replace("@PAYMENT_TIMEOUT@", str(args.payment_timeout))
    with open(os.path.join(staging, "kiosk.toml"), "w") as f:
        f.write(config)
    with open(os.path.join(staging, "token"), "w") as f:
        f.write(args.token + "\n")
    def put(source, target, mode):
        subprocess.run(["e2mkdir", "-G", "0", "-O", "0", f"{image}:{os.path.dirname(target)}"], check=False,
                       capture_output=True)
        subprocess.run(["e2cp", "-G", "0", "-O", "0", "-P", mode, source, f"{image}:{target}"], check=True)
    # The fleet's repository, as the README's set-up has it.
    with open(os.path.join(staging, "drippay-kiosk.sources"), "w") as f:
        f.write(f"Types: deb\nURIs: http://{REPOSITORY_ADDRESS}/\nSuites: bookworm\nComponents: main\n"
                "Signed-By: /etc/apt/keyrings/drippay-kiosk.gpg\n")
    put(os.path.join(args.repo, "drippay-kiosk-archive-keyring.gpg"), "/etc/apt/keyrings/drippay-kiosk.gpg", "644")
    put(os.path.join(staging, "drippay-kiosk.sources"), "/etc/apt/sources.list.d/drippay-kiosk.sources", "644")
    put(os.path.join(staging, "kiosk.toml"), GUEST_CONFIG, "644")
    put(os.path.join(here, "board-uart.toml"), "/etc/drippay-kiosk/hardware-profiles/board-uart.toml", "644")
    put(os.path.join(staging, "token"), "/etc/drippay-kiosk/token", "600")
    if args.unit:
        put(args.unit, "/etc/systemd/system/drippay-kiosk.service", "644")


if __name__ == "__main__":
    sys.exit(main())
