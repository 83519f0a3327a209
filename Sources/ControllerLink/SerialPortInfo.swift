// The only file of ControllerLink that touches C: libserialport, termios, poll(2).
import CLinuxShims
import CSerialPort
import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

public struct SerialPortInfo: Hashable, Sendable {
    /// How the port is attached.
    public enum Transport: String, Hashable, Sendable { case native, usb, bluetooth, unknown }

    public var device: String
    public var description: String?
    public var transport: Transport
    public var usbVendorID: Int?
    public var usbProductID: Int?
    public var manufacturer: String?
    public var product: String?
    public var serialNumber: String?

    public init(
        device: String, description: String? = nil, transport: Transport = .unknown, usbVendorID: Int? = nil,
        usbProductID: Int? = nil, manufacturer: String? = nil, product: String? = nil, serialNumber: String? = nil
    ) {
        self.device = device
        self.description = description
        self.transport = transport
        self.usbVendorID = usbVendorID
        self.usbProductID = usbProductID
        self.manufacturer = manufacturer
        self.product = product
        self.serialNumber = serialNumber
    }

    /// `0403:6001`, or nil when the port is not on USB.
    public var usbID: String? {
        guard let vid = usbVendorID, let pid = usbProductID else { return nil }
        let hex = { (value: Int) in
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
        return "\(hex(vid)):\(hex(pid))"
    }

    /// Every port libserialport finds, sorted by device path.
    public static func list() throws(LinkError) -> [SerialPortInfo] {
        var listPointer: UnsafeMutablePointer<OpaquePointer?>?
        guard sp_list_ports(&listPointer) == SP_OK, let list = listPointer else {
            let message =
                sp_last_error_message().map { text -> String in
                    defer { sp_free_error_message(text) }
                    return String(cString: text)
                } ?? "unknown error"
            throw .openFailed(device: "serial port list", reason: message)
        }
        defer { sp_free_port_list(list) }
        var ports: [SerialPortInfo] = []
        var index = 0
        while let port = list[index] {
            index += 1
            let text = { (pointer: UnsafeMutablePointer<CChar>?) -> String? in
                guard let pointer else { return nil }
                let value = String(cString: pointer)
                return value.isEmpty ? nil : value
            }
            guard let name = text(sp_get_port_name(port)) else { continue }
            var info = SerialPortInfo(device: name, description: text(sp_get_port_description(port)))
            switch sp_get_port_transport(port) {
            case SP_TRANSPORT_NATIVE: info.transport = .native
            case SP_TRANSPORT_USB: info.transport = .usb
            case SP_TRANSPORT_BLUETOOTH: info.transport = .bluetooth
            default: info.transport = .unknown
            }
            if info.transport == .usb {
                var vid: Int32 = 0
                var pid: Int32 = 0
                if sp_get_port_usb_vid_pid(port, &vid, &pid) == SP_OK {
                    info.usbVendorID = Int(vid)
                    info.usbProductID = Int(pid)
                }
                info.manufacturer = text(sp_get_port_usb_manufacturer(port))
                info.product = text(sp_get_port_usb_product(port))
                info.serialNumber = text(sp_get_port_usb_serial(port))
            }
            ports.append(info)
        }
        return ports.sorted { $0.device < $1.device }
    }
}
