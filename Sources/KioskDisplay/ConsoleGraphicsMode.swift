import CLinuxShims
import Glibc
import KioskCore
import Synchronization

/// The kernel's text console kept off the framebuffer while the daemon draws: the VT's cursor
/// hidden (DECTCEM, `ESC [ ? 25 l`) and the VT switched to graphics mode (`KDSETMODE
/// KD_GRAPHICS`), both undone when the display is released (a clean exit).
///
/// Graphics mode alone did not keep the cursor off: fbcon's blink work (Linux 6.1
/// `fb_flashcursor`) checks only that the VT shows a cursor, not the VT's mode, so once queued it
/// kept drawing the cursor's cell over the QR. With the cursor hidden it draws nothing.
///
/// Other programs switch the VT back. On a stock Debian or Raspberry Pi OS board, getty@tty1 runs
/// on the VT the display shows, and systemd resets a getty's terminal when the getty starts and
/// when it stops (`TTYReset=`: KDSETMODE KD_TEXT, then `ESC c`, which shows the cursor again) and
/// hangs it up (`TTYVHangup=`: every descriptor open on that VT, ours too, then answers EIO). The
/// login prompt and its blinking cursor (after "board login: ", column 13) then came over the QR.
/// So the mode is held, not set once: `hold()` before every frame takes the VT back (reopening a
/// hung-up descriptor), and `onChange` is called when the kernel says the VT left graphics mode
/// (`VT_WAITEVENT`, `VT_EVENT_UNBLANK`), so that the display redraws at once, not at its next
/// frame. The unit also starts after getty@tty1 (its reset at boot comes first).
final class ConsoleGraphicsMode: Sendable {
    struct Warning: Error, CustomStringConvertible, Equatable {
        var description: String
    }

    /// The foreground virtual terminal.
    static let device = "/dev/tty0"
    static let hideCursor = Array("\u{1B}[?25l".utf8)
    static let showCursor = Array("\u{1B}[?25h".utf8)

    let device: String
    private let held: Mutex<Held>
    private let watcher: Watcher

    private struct Held {
        /// nil after a hang-up whose reopen failed (tried again at the next frame).
        var descriptor: FileDescriptor?
        /// The last problem reported, so that a frame a second does not repeat it.
        var reported: Warning?
    }

    /// What `hold()` found.
    enum Check: Equatable {
        /// Still in graphics mode.
        case held
        /// Another program had switched the VT to text mode, or hung it up; taken back.
        case retaken(String)
        /// It could not be taken back.
        case trouble(Warning)
    }

    private init(device: String, descriptor: FileDescriptor, onChange: @escaping @Sendable () -> Void) {
        self.device = device
        self.held = Mutex(Held(descriptor: descriptor))
        self.watcher = Watcher(device: device, onChange: onChange)
    }

    /// Opens the VT and takes it (cursor hidden, graphics mode). `onChange` is called, on a
    /// thread of the watcher's own, each time the VT leaves graphics mode (nil: not watched).
    /// `device` is the foreground VT but in tests (a pty shows the bytes written to it).
    static func enter(
        device: String = device, onChange: (@Sendable () -> Void)? = nil
    ) -> Result<ConsoleGraphicsMode, Warning> {
        switch open(device) {
        case .failure(let warning):
            return .failure(warning)
        case .success(let descriptor):
            if let warning = take(descriptor.raw, device: device) { return .failure(warning) }
            let mode = ConsoleGraphicsMode(device: device, descriptor: descriptor, onChange: onChange ?? {})
            if onChange != nil { mode.watcher.start() }
            return .success(mode)
        }
    }

    /// Called before each frame (one ioctl while nothing changed): takes the VT back when another
    /// program switched it to text mode or hung it up. What it returns is for the log: nil while
    /// held, each retake, and a failure once (not at every frame) until it changes.
    func hold() -> String? {
        held.withLock { held in
            let (check, descriptor) = Self.check(held.descriptor, device: device)
            held.descriptor = descriptor
            switch check {
            case .held:
                held.reported = nil
                return nil
            case .retaken(let note):
                held.reported = nil
                return note
            case .trouble(let warning):
                guard warning != held.reported else { return nil }
                held.reported = warning
                return warning.description
            }
        }
    }

    private static func check(_ descriptor: FileDescriptor?, device: String) -> (Check, FileDescriptor?) {
        if let descriptor {
            var mode: CInt = -1
            if ioctl(descriptor.raw, UInt(KDGETMODE), &mode) == 0 {
                if mode == CInt(KD_GRAPHICS) { return (.held, descriptor) }
                if let warning = take(descriptor.raw, device: device) { return (.trouble(warning), descriptor) }
                return (
                    .retaken(
                        "the text console (\(device)) was switched back to text mode by another program (on a "
                            + "stock board: the getty on the display's VT, which systemd resets when it starts and "
                            + "stops); it is in graphics mode again and the screen redrawn"), descriptor
                )
            }
            let code = errno
            guard code == EIO else {
                let warning = Warning(
                    description: "KDGETMODE on \(device) failed: \(DisplayError.describe(code)); the text console "
                        + "may draw over the screen")
                return (.trouble(warning), descriptor)
            }
        }
        // Hung up (a getty's TTYVHangup= on the same VT): a new descriptor, then the mode again.
        switch open(device) {
        case .failure(let warning):
            return (.trouble(warning), nil)
        case .success(let fresh):
            if let warning = take(fresh.raw, device: device) { return (.trouble(warning), fresh) }
            return (
                .retaken(
                    "the text console (\(device)) was hung up by another program (on a stock board: the getty on "
                        + "the display's VT, at its start or stop); reopened, in graphics mode again and the screen "
                        + "redrawn"), fresh
            )
        }
    }

    private static func open(_ device: String) -> Result<FileDescriptor, Warning> {
        // Non-blocking: a VT stopped by XOFF must not hold the daemon up.
        let fd = Glibc.open(device, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENODEV || code == ENXIO {
                return .failure(Warning(description: "no virtual terminal (\(device)): nothing to switch"))
            }
            return .failure(
                Warning(
                    description: "cannot open \(device) to keep the text console off the framebuffer: "
                        + "\(DisplayError.describe(code)); the console cursor may blink over the screen. Under systemd the unit "
                        + "needs DeviceAllow=/dev/tty0 rw and the 'tty' group (SupplementaryGroups=tty)"))
        }
        return .success(FileDescriptor(fd))
    }

    /// The cursor hidden, then graphics mode: nil when both took.
    private static func take(_ fd: Int32, device: String) -> Warning? {
        // Hidden first, while the console still draws: the cursor shown now is erased too.
        if let code = write(hideCursor, to: fd) {
            return Warning(
                description: "cannot hide the text console's cursor on \(device): \(DisplayError.describe(code)); "
                    + "it may blink over the screen")
        }
        guard ioctl(fd, UInt(KDSETMODE), CInt(KD_GRAPHICS)) == 0 else {
            let code = errno
            return Warning(
                description: "KDSETMODE on \(device) failed: \(DisplayError.describe(code)); kernel messages "
                    + "may appear over the screen. Switching the console needs CAP_SYS_TTY_CONFIG (in the unit: "
                    + "AmbientCapabilities=CAP_SYS_TTY_CONFIG)")
        }
        return nil
    }

    /// The errno of a failed or short write, nil when every byte went out.
    private static func write(_ bytes: [UInt8], to fd: Int32) -> Int32? {
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written < 0 { return errno }
        return written == bytes.count ? nil : EAGAIN
    }

    deinit {
        watcher.stop()
        held.withLock { held in
            guard let descriptor = held.descriptor else { return }
            // Back to text: also the VT event that wakes the watcher's thread, which then ends.
            _ = ioctl(descriptor.raw, UInt(KDSETMODE), CInt(KD_TEXT))
            _ = Self.write(Self.showCursor, to: descriptor.raw)
        }
    }
}

/// A thread blocked in `VT_WAITEVENT` (the kernel's wait for VT events; no polling) that calls
/// `onChange` each time the console is unblanked, which is what switching the foreground VT
/// from graphics back to text mode posts. It ends when stopped and the next event comes (the
/// release's own switch back to text is one), or when the VT cannot be waited on.
private final class Watcher: Sendable {
    private let device: String
    private let onChange: @Sendable () -> Void
    private let stopping = Atomic<Bool>(false)

    init(device: String, onChange: @escaping @Sendable () -> Void) {
        self.device = device
        self.onChange = onChange
    }

    func start() {
        let device = device
        // The thread keeps this object (not the console) alive until it ends.
        startThread(name: "vt-events") { [self] in
            var fd: Int32 = -1
            defer { if fd >= 0 { close(fd) } }
            var failures = 0
            while !stopping.load(ordering: .acquiring) {
                if fd < 0 {
                    fd = Glibc.open(device, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)
                    if fd < 0 { return }
                }
                var event = vt_event()
                event.event = CUnsignedInt(VT_EVENT_UNBLANK)
                if ioctl(fd, UInt(VT_WAITEVENT), &event) == 0 {
                    failures = 0
                    if stopping.load(ordering: .acquiring) { return }
                    onChange()
                    continue
                }
                let code = errno
                if code == EINTR { continue }
                // EIO: hung up (a getty's TTYVHangup= on the same VT); a new descriptor. Anything
                // else (ENOTTY: not a VT) ends the watch; the per-frame hold still applies.
                guard code == EIO, failures < 3 else { return }
                failures += 1
                close(fd)
                fd = -1
                onChange()
            }
        }
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
    }
}
