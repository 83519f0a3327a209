#!/usr/bin/env python3
"""The code the daemon runs, for the linker's --symbol-ordering-file (scripts/package).

    packaging/hot-functions.py BINARY LINK_MAP ORDER_FILE SANDBOX_BINARY

Runs BINARY's `run` under valgrind's callgrind against SANDBOX_BINARY's `sandbox` (the
drippay-kiosk-demo executable: the packaged daemon has no sandbox of its own) and a vmc-line
controller on a pty, as a board runs it: start-up to READY, a PING, one paid vend (invoice,
the invoice's QR image fetched and drawn to a PNG, status polls, DISPENSE), one aborted vend,
then SIGTERM. LINK_MAP is the map of BINARY's link (lld -Map). Writes one symbol for each .text
input section that ran code, sorted, one per line (see hot_sections). HOT_FUNCTIONS_KEEP=1 keeps
the work directory (config, logs, callgrind's output) for a look after a failure.

Why: start-up alone touches code in every module, and the kernel maps the binary in 64 KiB
windows around each page it touches. Placed together, the code that runs fills a few MB instead
of being spread over most of the 19 MB of text (the README's package table has the figures).
A function the profile missed still links and runs; it is only placed with the cold code.
"""

import bisect
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tty
import urllib.request

TIMEOUT = 120  # seconds for any one step; valgrind runs the daemon some 50 times slower


def fail(message):
    print(f"hot-functions: {message}", file=sys.stderr)
    sys.exit(1)


class Lines:
    """Lines from a descriptor, waited for with a deadline: the controller's end of the pty (vmc-line
    lines out and in), the sandbox's banner."""

    def __init__(self, fd, source, refused=()):
        self.fd, self.source, self.refused = fd, source, refused
        self.buffer = b""

    def send(self, line):
        os.write(self.fd, (line + "\n").encode())

    def expect(self, *prefixes):
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                text = line.decode(errors="replace").strip()
                if text.startswith(prefixes):
                    return text
                if self.refused and text.startswith(self.refused):
                    fail(f"{self.source} answered '{text}' while the profile waited for {' or '.join(prefixes)}")
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"no line starting {' or '.join(prefixes)} from {self.source} within {TIMEOUT} s")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    fail(f"{self.source} closed its output while the profile waited for {' or '.join(prefixes)}")
                self.buffer += chunk


def executed_addresses(callgrind_out, binary):
    """Every instruction address of BINARY that ran, as link-time addresses."""
    addresses = set()
    main = None  # the lowest address seen in drippay_kiosk_main's block
    obj = function = None
    with open(callgrind_out, errors="replace") as f:
        for line in f:
            if line.startswith("ob="):
                obj = line[3:].strip()
            elif line.startswith("fn="):
                function = line[3:].strip()
            elif line.startswith("0x") and obj == binary:
                address = int(line.split(None, 1)[0], 16)
                addresses.add(address)
                if function == "drippay_kiosk_main" and (main is None or address < main):
                    main = address
    # Relative to the link-time addresses (callgrind's own are, for a PIE; checked, not assumed):
    # the daemon's main runs from its first instruction.
    if main is None:
        fail("callgrind saw no drippay_kiosk_main in the binary: is its output from this binary?")
    symbols = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    linked = next(int(p[0], 16) for p in (l.split() for l in symbols.splitlines()) if p[-1:] == ["drippay_kiosk_main"])
    return {a - (main - linked) for a in addresses}


def text_sections(link_map):
    """The linker map's input sections of .text: (address, size, name, [symbols defined in it])."""
    sections, out, current = [], None, None
    with open(link_map) as f:
        next(f)  # header: VMA LMA Size Align Out In Symbol
        for line in f:
            fields = line[:48].split()
            if len(fields) != 4:
                continue
            name = line[49:].rstrip("\n")
            depth = len(name) - len(name.lstrip(" "))
            if depth == 0:
                out = name
            elif out == ".text" and depth == 8:
                current = (int(fields[0], 16), int(fields[2], 16), name.strip(), [])
                sections.append(current)
            elif out == ".text" and depth == 16 and current is not None:
                current[3].append(name.strip())
    return sorted(sections)


def hot_sections(callgrind_out, binary, link_map):
    """One symbol for each input section of .text that ran code, for --symbol-ordering-file.

    The order file names symbols, and the linker moves the section that defines each. A name
    defined in several sections (Swift's local value witnesses and merged functions repeat in
    every module) would move all of them, among them whole unsplit .text sections of the
    toolchain's archives (hundreds of KiB that never run), so each section is named by a
    symbol defined nowhere else. Sections with no symbol at all (LLVM's private functions,
    `.text..L…`) are gathered by packaging/hot-text.ld instead.
    """
    addresses = executed_addresses(callgrind_out, binary)
    sections = text_sections(link_map)
    if not sections:
        fail(f"no .text input sections in the link map {link_map}")
    starts = [s[0] for s in sections]
    ran = sorted({bisect.bisect_right(starts, a) - 1 for a in addresses})
    defined_in = {}
    for index, (_, _, _, symbols) in enumerate(sections):
        for symbol in symbols:
            defined_in.setdefault(symbol, []).append(index)
    ran_set = set(ran)
    hot, unnamed, dragging = set(), 0, 0
    for index in ran:
        symbols = sections[index][3]
        unique = [s for s in symbols if len(defined_in[s]) == 1]
        # Else a name whose every other section ran too, or is small (a copy of a value witness):
        # never one that would drag a large block that did not run.
        shared = [s for s in symbols if all(i in ran_set or sections[i][1] <= 4096 for i in defined_in[s])]
        if unique or shared:
            hot.add(min(unique or shared))
        elif symbols:
            # Measured: leaving these in place (67 sections, spread over the cold code) costs
            # more than the blocks that come along (2026-12-01: 20.2 against 18.8 MB idle RSS).
            hot.add(min(symbols))
            dragging += 1
        else:
            unnamed += 1
    if len(hot) < 1000:
        fail(f"only {len(hot)} sections of the binary ran code")
    print(f"hot-functions: {len(addresses)} instructions ran, in {len(ran)} of {len(sections)} sections of .text;"
          f" {len(hot)} named, {dragging} of them by a name that moves other sections along,"
          f" {unnamed} without a symbol", file=sys.stderr)
    return sorted(hot)


def main():
    if len(sys.argv) != 5:
        print("usage: packaging/hot-functions.py BINARY LINK_MAP ORDER_FILE SANDBOX_BINARY", file=sys.stderr)
        sys.exit(64)
    binary, link_map, order_file = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    sandbox_binary = os.path.abspath(sys.argv[4])
    for tool in ("valgrind", "objcopy", "nm"):
        if shutil.which(tool) is None:
            fail(f"{tool} is not installed: run scripts/deps")
    work = tempfile.mkdtemp(prefix="drippay-hot-")
    children = []
    try:
        # valgrind 3.19 cannot read clang's DWARF 5; the symbol table is all it needs.
        profiled = os.path.join(work, "drippay-kiosk")
        subprocess.run(["objcopy", "--strip-debug", binary, profiled], check=True)

        token = "hot|" + os.urandom(16).hex()
        # The banner on stdout (nothing more until it stops), its log in a file.
        sandbox_log = open(os.path.join(work, "sandbox.log"), "w")
        sandbox = subprocess.Popen(
            [sandbox_binary, "sandbox", "--port", "0", "--token", token], stdout=subprocess.PIPE, stderr=sandbox_log
        )
        children.append(sandbox)
        url = Lines(sandbox.stdout.fileno(), "the sandbox").expect("base URL:").split(":", 1)[1].strip()
        origin = url.split("/api/", 1)[0]

        # The controller's end is the pty master; the daemon opens the slave by name. Holding a
        # slave descriptor open here keeps the master from reading end-of-file while the daemon
        # closes and reopens its side.
        master, slave = os.openpty()
        tty.setraw(slave)
        daemon_port = os.ttyname(slave)
        controller = Lines(master, "the daemon", refused=("DENY", "ERROR", "DISPENSE"))

        token_file = os.path.join(work, "token")
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(token + "\n")
        profile = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hardware-profiles", "simulator.toml")
        config = os.path.join(work, "kiosk.toml")
        with open(config, "w") as f:
            f.write(
                f'machine_id = "HOT-01"\nprofile = "{os.path.abspath(profile)}"\ncurrency = "USD"\n\n'
                f'[api]\nbase_url = "{url}"\ntoken_file = "{token_file}"\n\n'
                f'[serial]\ndevice = "{daemon_port}"\n\n[vend.items]\n"5" = "Soda"\n\n'
                f'[display]\noutput = "png"\npng_path = "{work}/screen.png"\n\n'
                f'[journal]\npath = "{work}/journal.sqlite"\n'
            )
        environment = dict(os.environ)
        environment.pop("NOTIFY_SOCKET", None)
        callgrind_out = os.path.join(work, "callgrind.out")
        daemon_log = open(os.path.join(work, "daemon.log"), "w+")
        daemon = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", "--dump-instr=yes", "--dump-line=no",
             "--compress-pos=no", "--compress-strings=no", f"--callgrind-out-file={callgrind_out}",
             f"--log-file={work}/valgrind.log", profiled, "run", "--config", config],
            stdout=daemon_log, stderr=subprocess.STDOUT, env=environment,
        )
        children.append(daemon)

        controller.send("HELLO hot-functions 1")
        controller.expect("READY")
        controller.send("PING")
        controller.expect("PONG")
        # A paid vend: the invoice, its QR on the pay screen, status polls, DISPENSE.
        # Out of service until its API check passes (slow under valgrind): "DENY ... unavailable".
        deadline = time.monotonic() + TIMEOUT
        for attempt in range(1000):
            controller.send(f"VEND hot1-{attempt} 5 1.50")
            answer = controller.expect(f"ACCEPT hot1-{attempt}", f"DENY hot1-{attempt} unavailable")
            if answer.startswith("ACCEPT"):
                break
            if time.monotonic() > deadline:
                fail(f"the daemon stayed out of service for {TIMEOUT} s")
            time.sleep(1)
        with urllib.request.urlopen(f"{origin}/_sandbox/invoices", timeout=10) as response:
            invoices = json.load(response)
        for invoice in invoices:
            request = urllib.request.Request(f"{origin}/_sandbox/invoices/{invoice['reference']}/pay", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
        controller.expect(f"DISPENSE hot1-{attempt}")
        controller.send(f"DISPENSED hot1-{attempt}")
        # An aborted one.
        controller.send("VEND hot2 5 2")
        controller.expect("ACCEPT hot2")
        controller.send("ABORT hot2")
        controller.expect("DENY hot2")
        time.sleep(1)  # the end of the session reaches the journal and the screen
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            fail(f"the daemon did not exit within {TIMEOUT} s of SIGTERM")

        hot = hot_sections(callgrind_out, profiled, link_map)
        with open(order_file, "w") as f:
            f.write("\n".join(hot) + "\n")
    except SystemExit:
        for name in ("daemon.log", "valgrind.log", "sandbox.log"):
            path = os.path.join(work, name)
            if os.path.exists(path):
                print(f"--- {name} (last lines)", file=sys.stderr)
                print("".join(open(path, errors="replace").readlines()[-20:]), file=sys.stderr)
        raise
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
        if not os.environ.get("HOT_FUNCTIONS_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
