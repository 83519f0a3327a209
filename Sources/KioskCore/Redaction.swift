#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The API token, held so that it cannot be printed by accident: `description`,
/// `debugDescription` and string interpolation all show `<redacted>`.
public struct APIToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The `{id}|{secret}` value for the `Authorization: Bearer` header. Read it only there.
    public let bearerValue: String

    public init(_ value: String) { self.bearerValue = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    /// Replaces every occurrence of the token (and of its secret part) in `text`.
    public func redact(_ text: String) -> String {
        var out = text
        if !bearerValue.isEmpty { out = out.replacingAll(bearerValue, with: "<redacted>") }
        if let bar = bearerValue.firstIndex(of: "|") {
            let secret = String(bearerValue[bearerValue.index(after: bar)...])
            if secret.count >= 4 { out = out.replacingAll(secret, with: "<redacted>") }
        }
        return out
    }
}
