import Foundation
import KioskCore
import Testing

@testable import DripPayAPI

/// Issue 16: the reference's path segment is built by a byte loop (Foundation's percent-encoding
/// was a visible share of each status poll); Foundation stays the oracle it must agree with.
@Suite("Client: invoice reference as a path segment")
struct PathSegmentTests {
    static func foundation(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    @Test("agrees with Foundation's urlPathAllowed less / ? # on every ASCII byte and on UTF-8")
    func agreesWithFoundation() {
        var samples = [
            "0d5f3c9e-1b2a-4c8d-9e7f-123456789abc", "a/b", "a?b#c", "50% off", "caf\u{e9}", "\u{1F600}x", "~._-",
            "!$&'()*+,;=:@", "",
        ]
        for byte in UInt8(1)...UInt8(127) { samples.append("x" + String(UnicodeScalar(byte)) + "y") }
        for sample in samples {
            #expect(
                DripPayClient.segment(InvoiceReference(sample)) == Self.foundation(sample), "\(sample.debugDescription)"
            )
        }
    }

    @Test("a reference of allowed characters comes back unchanged; a slash never survives")
    func slashEncoded() {
        #expect(DripPayClient.segment(InvoiceReference("inv_ABC-123")) == "inv_ABC-123")
        #expect(DripPayClient.segment(InvoiceReference("../x")) == "..%2Fx")
    }
}
