// swift-tools-version:6.0
// Coverage-guided fuzzing (libFuzzer) of the parsers that read bytes from outside: the TOML
// parser and config loader, the controller line framer with both codecs, and the DripPay API's
// JSON decoding. A separate package so that the sanitizer build (`scripts/fuzz`, scratch path
// `.build-fuzz`) compiles only these targets and their small dependencies, never SwiftNIO or
// AsyncHTTPClient, and the normal build never sees the harnesses.
import PackageDescription

let package = Package(
    name: "drippay-kiosk-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "drippay-kiosk", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzConfig",
            dependencies: [
                .product(name: "KioskConfig", package: "drippay-kiosk"),
                .product(name: "KioskCore", package: "drippay-kiosk"),
            ]),
        .executableTarget(
            name: "FuzzFramer",
            dependencies: [
                .product(name: "ControllerLink", package: "drippay-kiosk"),
                .product(name: "KioskCore", package: "drippay-kiosk"),
            ]),
        .executableTarget(
            name: "FuzzAPIJSON",
            dependencies: [.product(name: "DripPayModels", package: "drippay-kiosk")]),
    ]
)
