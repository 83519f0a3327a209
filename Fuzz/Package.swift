// swift-tools-version:5.3
// Coverage-guided fuzzing (libFuzzer) of the parsers that read bytes from outside: the TOML
// parser and config loader, the controller line framer with both codecs, the DripPay API's
// JSON decoding, and the payment request behind the invoice's QR image (BOLT11; WebP/PNG and
// zbar). A separate package so that the sanitizer build (`scripts/fuzz`, scratch path
// `.build-fuzz`) compiles only these targets and their small dependencies, never SwiftNIO or
// AsyncHTTPClient, and the normal build never sees the harnesses.
//
// Tools version 5.3 on purpose: from 5.5 on SwiftPM renames an executable's entry point
// (`<Target>_main`, for testable executables), but a harness has none: libFuzzer supplies
// `main`. Each harness is a `main.swift` built with `-parse-as-library` (no top-level code).
import PackageDescription

let package = Package(
    name: "drippay-kiosk-fuzz",
    dependencies: [.package(name: "drippay-kiosk", path: "..")],
    targets: [
        .target(
            name: "FuzzConfig",
            dependencies: [
                .product(name: "KioskConfig", package: "drippay-kiosk"),
                .product(name: "KioskCore", package: "drippay-kiosk"),
            ]),
        .target(
            name: "FuzzFramer",
            dependencies: [
                .product(name: "ControllerLink", package: "drippay-kiosk"),
                .product(name: "KioskCore", package: "drippay-kiosk"),
            ]),
        .target(
            name: "FuzzAPIJSON",
            dependencies: [.product(name: "DripPayModels", package: "drippay-kiosk")]),
        .target(
            name: "FuzzPayCodes",
            dependencies: [.product(name: "PayCodes", package: "drippay-kiosk")]),
        .target(
            name: "FuzzPayImage",
            dependencies: [.product(name: "PayCodeImaging", package: "drippay-kiosk")]),
    ]
)
