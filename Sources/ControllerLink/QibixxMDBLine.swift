import KioskCore

extension QibixxMDBCodec {
    /// One line from the adapter, read without any state: what it says, not what it means now.
    enum AdapterLine: Equatable {
        /// Nothing but blanks.
        case empty
        /// VMC poll acks, the master role, the version answer, sniffer lines (`r`, `d`, `D`, `v`, `x`).
        case noise
        /// Not a `c,...` line.
        case notCashless
        /// `c` alone.
        case emptyCashless
        /// `c,1` / `c,0`: the answer to `C,1` / `C,0`.
        case readerAnswer(on: Bool)
        /// `c,SET,OK` or `c,SET,<error>`: the answer to `C,SETCONF`.
        case setAnswer(ok: Bool, detail: String)
        /// `c,STATUS,<state>[,...]`: the fields after `STATUS`.
        case status([String])
        /// `c,VEND,SUCCESS[,...]`.
        case vendSuccess
        /// Any other `c,VEND,...`.
        case unknownVend
        /// `c,ERR,<detail>` (the detail as sent, quotes and commas included).
        case error(detail: String)
        /// `c,<message>,...` of no known message.
        case unknownMessage(String)

        init(_ raw: String) {
            var text = Substring(raw)
            while let last = text.last, last == " " || last == "\t" || last == "\r" { text.removeLast() }
            guard !text.isEmpty else {
                self = .empty
                return
            }
            let fields = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            switch fields[0] {
            case "r", "d", "D", "v", "x":
                self = .noise
                return
            case "c":
                break
            default:
                self = .notCashless
                return
            }
            guard fields.count >= 2 else {
                self = .emptyCashless
                return
            }
            let rest = fields.dropFirst(2)
            switch fields[1] {
            case "1", "0": self = .readerAnswer(on: fields[1] == "1")
            case "SET": self = .setAnswer(ok: rest.first == "OK", detail: rest.joined(separator: ","))
            case "STATUS": self = .status(Array(rest))
            case "VEND": self = rest.first == "SUCCESS" ? .vendSuccess : .unknownVend
            case "ERR": self = .error(detail: rest.joined(separator: ","))
            default: self = .unknownMessage(fields[1])
            }
        }
    }
}
