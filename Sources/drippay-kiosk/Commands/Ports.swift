import ArgumentParser
import ControllerLink

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `drippay-kiosk ports`: the serial ports this machine has, so a technician can tell the
/// MDB adapter from other USB serial devices and put the right path in the config.
struct Ports: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ports",
        abstract: "List serial ports (device, description, USB VID:PID, manufacturer, serial number).",
        discussion: """
            Put the device of your controller's adapter into the config's [serial] device. \
            USB adapters (Qibixx MDB-USB, USB-serial cables) appear as /dev/ttyUSB* or /dev/ttyACM*; \
            prefer their stable /dev/serial/by-id/... link. The Qibixx MDB Pi HAT is on the \
            Raspberry Pi's UART: /dev/ttyAMA0 or /dev/serial0.
            """)

    func run() async throws {
        let ports: [SerialPortInfo]
        do {
            ports = try SerialPortInfo.list()
        } catch {
            print("Could not list serial ports: \(error.description)")
            return
        }
        if ports.isEmpty {
            print(
                """
                No serial ports found.
                - A USB adapter (Qibixx MDB-USB, USB-serial cable) appears as /dev/ttyUSB* or /dev/ttyACM* once plugged in;
                  check the cable and `dmesg | tail`.
                - The Qibixx MDB Pi HAT uses the Raspberry Pi UART (/dev/ttyAMA0 or /dev/serial0): enable it with
                  raspi-config (serial port on, login shell over serial off).
                """)
            return
        }
        print(Self.table(ports))
        print(
            "\n\(ports.count) port\(ports.count == 1 ? "" : "s"). Use the DEVICE column as [serial] device in the config."
        )
    }

    static func table(_ ports: [SerialPortInfo]) -> String {
        let header = ["DEVICE", "TRANSPORT", "USB ID", "MANUFACTURER", "PRODUCT", "SERIAL", "DESCRIPTION"]
        let rows = ports.map { port in
            [
                port.device, port.transport.rawValue, port.usbID ?? "-", port.manufacturer ?? "-", port.product ?? "-",
                port.serialNumber ?? "-", port.description ?? "-",
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padded(toLength: widths[column])
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
