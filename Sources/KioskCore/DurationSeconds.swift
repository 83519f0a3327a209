extension Duration {
    /// The duration in seconds as a `Double` (a `TimeInterval`): for rates, metrics, figures and
    /// `Date` arithmetic. Exact to a Double's precision (about 15 digits), so never for money.
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
