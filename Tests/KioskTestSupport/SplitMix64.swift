import KioskCore

/// KioskCore's seeded generator, for the suites that import only this library.
public typealias SplitMix64 = KioskCore.SplitMix64
