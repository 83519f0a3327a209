import KioskCore

/// What went wrong on the serial line to the controller, with what to do about it.
public enum LinkError: Error, Hashable, Sendable, CustomStringConvertible {
    case deviceMissing(device: String)
    /// EACCES: the file's permissions do not let this user open it.
    case permissionDenied(device: String)
    /// EPERM: a device policy forbids it whatever the permissions (systemd's `DevicePolicy=` /
    /// `DeviceAllow=`, a container's device cgroup).
    case deviceNotAllowed(device: String)
    case notATerminal(device: String)
    case openFailed(device: String, reason: String)
    case configureFailed(device: String, reason: String)
    case unsupportedSetting(device: String, reason: String)
    /// Another process holds the device exclusively (a second daemon on the same port).
    case inUse(device: String, holder: String)
    /// `send` while the link is down (device unplugged, not yet reopened).
    case notConnected(device: String)
    case writeFailed(device: String, reason: String)
    /// The write failed after `written` of the line's `total` bytes went out: the controller may
    /// have received the whole line (or acted on what it got).
    case writeIncomplete(device: String, written: Int, total: Int, reason: String)
    /// The protocol has no line for this command right now (e.g. an MDB dispense for a vend
    /// the machine is no longer waiting on). Nothing was written.
    case notSent(device: String, command: String, reason: String)

    public var description: String {
        switch self {
        case .deviceMissing(let device):
            return "serial device \(device) does not exist: check the cable and the [serial] device setting; "
                + "`drippay-kiosk ports` lists the ports this machine has"
        case .permissionDenied(let device):
            return "no permission to open serial device \(device): add the daemon's user to the 'dialout' group "
                + "(usermod -aG dialout USER) or fix the device's udev rule"
        case .deviceNotAllowed(let device):
            return "opening serial device \(device) was refused by a device policy (EPERM), not by its permissions: "
                + "under systemd allow it in the unit (systemctl edit drippay-kiosk, add DeviceAllow=\(device) rw "
                + "or its class, e.g. DeviceAllow=char-ttyS rw for /dev/ttyS*), then restart the unit"
        case .notATerminal(let device):
            return "\(device) is not a serial device or terminal: set [serial] device to a tty "
                + "(`drippay-kiosk ports` lists them)"
        case .openFailed(let device, let reason):
            return "cannot open serial device \(device): \(reason)"
        case .configureFailed(let device, let reason):
            return "cannot configure serial device \(device): \(reason); check the [serial] settings"
        case .unsupportedSetting(let device, let reason):
            return "serial device \(device): \(reason); fix the [serial] settings"
        case .inUse(let device, let holder):
            return "serial device \(device) is in use by \(holder); only one program may talk to the controller: "
                + "stop it first (`systemctl stop drippay-kiosk`, or end that `run`)"
        case .notConnected(let device):
            return
                "the controller link on \(device) is down; nothing was sent (it reopens by itself when the device is back)"
        case .writeIncomplete(let device, let written, let total, let reason):
            return "write to serial device \(device) stopped after \(written) of \(total) bytes: \(reason); "
                + "the controller may have received the command: check the cable and the machine"
        case .writeFailed(let device, let reason):
            return "writing to serial device \(device) failed: \(reason); the line may be unplugged"
        case .notSent(let device, let command, let reason):
            return "\(command) was not sent to \(device): \(reason)"
        }
    }
}

/// What the link reports to the daemon.
public enum LinkEvent: Hashable, Sendable {
    /// The device is open and being read. Tell the controller whether payments work now.
    case up(device: String)
    /// The device is gone or could not be opened; the link keeps retrying.
    case down(reason: String)
    /// Something the controller said.
    case controller(ControllerEvent)
}

extension LinkError: ControllerWriteFailure {
    public var someBytesLeft: Bool {
        if case .writeIncomplete(_, let written, _, _) = self { return written > 0 }
        return false
    }
}
