import KioskCore

/// How long an HTTP answer says it stays the same (RFC 9111, 4.2.1): `Cache-Control: max-age`
/// less `Age`, else `Expires` less `Date`. `no-cache` and `no-store` say nothing may be reused
/// (0). A pure function of header values, tested without a server.
public enum HTTPFreshness {
    /// Seconds the answer stays fresh; nil when it says nothing (or says it unreadably).
    public static func lifetime(cacheControl: String?, expires: String?, date: String?, age: String? = nil) -> Double? {
        if let cacheControl {
            var maxAge: Double?
            for directive in cacheControl.split(separator: ",") {
                let parts = directive.split(separator: "=", maxSplits: 1).map {
                    $0.trimmingScalars(where: { $0 == " " || $0 == "\t" || $0 == "\"" }).lowercased()
                }
                switch parts.first {
                case "no-cache", "no-store": return 0
                case "max-age": maxAge = parts.count == 2 ? Double(parts[1]).flatMap { $0 >= 0 ? $0 : nil } : nil
                default: continue
                }
            }
            if let maxAge {
                let used = age.flatMap { Double($0.trimmingScalars(where: { $0 == " " })) } ?? 0
                return max(0, maxAge - used)
            }
        }
        guard let expires else { return nil }
        // An Expires that cannot be read means "already expired" (RFC 9111, 5.3).
        guard let until = httpDate(expires) else { return 0 }
        guard let date = date.flatMap(httpDate) else { return nil }
        return max(0, until - date)
    }

    /// Seconds since 1970 of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); nil for anything else.
    public static func httpDate(_ text: String) -> Double? {
        let fields = text.split(separator: " ")
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        guard fields.count == 6, fields[0].hasSuffix(","), fields[5] == "GMT",
            let day = Int(fields[1]), (1...31).contains(day),
            let month = months.firstIndex(of: fields[2].lowercased()).map({ $0 + 1 }),
            let year = Int(fields[3]), fields[3].count == 4
        else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2])
        else { return nil }
        return Double(
            CivilDate.days(year: year, month: month, day: day) * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2])
    }
}
