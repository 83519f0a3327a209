// swift-tools-version:6.0
// drippay-kiosk: a payment daemon for vending machines on the DripPay invoice API.
// Targets follow the data's path: controller link -> vend session -> API / journal -> display.
// The executable only wires them (KioskDaemon) and parses the command line.
import PackageDescription

let package = Package(
    name: "drippay-kiosk",
    platforms: [.macOS(.v15)],  // Mutex and Atomic (Synchronization) need macOS 15
    products: [
        .executable(name: "drippay-kiosk", targets: ["drippay-kiosk"]),
        .executable(name: "drippay-kiosk-demo", targets: ["drippay-kiosk-demo"]),
        .executable(name: "drippay-bench", targets: ["drippay-bench"]),
        // For the fuzz package (Fuzz/, scripts/fuzz): the parsers it drives, without SwiftNIO.
        .library(name: "KioskCore", targets: ["KioskCore"]),
        .library(name: "KioskConfig", targets: ["KioskConfig"]),
        .library(name: "ControllerLink", targets: ["ControllerLink"]),
        .library(name: "DripPayModels", targets: ["DripPayModels"]),
        .library(name: "PayCodes", targets: ["PayCodes"]),
        .library(name: "PayCodeImaging", targets: ["PayCodeImaging"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // MARK: C libraries (system packages, never vendored)
        .systemLibrary(
            name: "CQRencode", path: "Sources/CSystem/CQRencode", pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"]), .brew(["qrencode"])]),
        .systemLibrary(
            name: "CSerialPort", path: "Sources/CSystem/CSerialPort", pkgConfig: "libserialport",
            providers: [.apt(["libserialport-dev"]), .brew(["libserialport"])]),
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSystem/CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]),
        .systemLibrary(
            name: "CPNG", path: "Sources/CSystem/CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(
            name: "CFreeType", path: "Sources/CSystem/CFreeType", pkgConfig: "freetype2",
            providers: [.apt(["libfreetype-dev"]), .brew(["freetype"])]),
        .systemLibrary(
            name: "CWebP", path: "Sources/CSystem/CWebP", pkgConfig: "libwebp",
            providers: [.apt(["libwebp-dev"]), .brew(["webp"])]),
        .systemLibrary(
            name: "CZBar", path: "Sources/CSystem/CZBar", pkgConfig: "zbar",
            providers: [.apt(["libzbar-dev"]), .brew(["zbar"])]),
        // HTTP to the API and the QR image host: Debian's libcurl on the system's OpenSSL and CA store
        // (security fixes arrive with apt). shim.h holds typed wrappers for its variadic setopt/getinfo.
        .systemLibrary(
            name: "CCurl", path: "Sources/CSystem/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]),
        // Linux kernel headers (termios, pty, framebuffer ioctls) behind one module.
        .systemLibrary(name: "CLinuxShims", path: "Sources/CSystem/CLinuxShims"),

        // MARK: Library targets
        .target(name: "KioskCore"),
        // BOLT11/bech32 and the refresh schedule: pure Swift, no dependencies (fuzzable).
        .target(name: "PayCodes"),
        // The invoice's QR image: WebP/PNG decoding, zbar scanning, QR pictures as WebP.
        .target(name: "PayCodeImaging", dependencies: ["PayCodes", "CWebP", "CZBar", "CPNG", "CQRencode"]),
        .target(
            name: "KioskLogging",
            dependencies: ["KioskCore", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "KioskConfig", dependencies: ["KioskCore"]),
        .target(
            name: "ControllerLink",
            dependencies: [
                "KioskCore", "CSerialPort", "CLinuxShims",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "ControllerSimulator", dependencies: ["ControllerLink", "KioskCore"]),
        .target(name: "VendSession", dependencies: ["KioskCore"]),
        // The API's models and JSON decoding, apart from the HTTP client (no SwiftNIO): fuzzed alone.
        .target(name: "DripPayModels", dependencies: ["KioskCore"]),
        .target(
            name: "DripPayAPI",
            dependencies: ["KioskCore", "DripPayModels", "CCurl", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "DripPaySandbox",
            dependencies: [
                "KioskCore", "PayCodes", "PayCodeImaging",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "KioskJournal", dependencies: ["KioskCore", "CSQLite"]),
        .target(
            name: "KioskDisplay",
            dependencies: ["KioskCore", "PayCodes", "CQRencode", "CPNG", "CFreeType", "CLinuxShims"]),
        .target(
            name: "KioskDaemon",
            dependencies: [
                "KioskCore", "KioskConfig", "KioskLogging", "ControllerLink", "VendSession", "DripPayAPI",
                "KioskJournal",
                "KioskDisplay", "PayCodes", "PayCodeImaging",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // `demo` and `sandbox`: the daemon against the built-in API sandbox and a simulated
        // controller. Only the drippay-kiosk-demo executable links it, so the shipped daemon
        // (drippay-kiosk, the Debian package) links neither (scripts/package --check greps for them).
        .target(
            name: "KioskDemo",
            dependencies: [
                "KioskCore", "KioskConfig", "KioskDaemon", "ControllerSimulator", "VendSession", "DripPaySandbox",
                "KioskDisplay", "PayCodes", "PayCodeImaging", "DripPayAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),

        // MARK: Executables
        .executableTarget(
            name: "drippay-kiosk",
            dependencies: [
                "KioskCore", "KioskConfig", "KioskLogging", "ControllerLink", "DripPayAPI", "KioskJournal",
                "KioskDisplay",
                "KioskDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The demo and the API sandbox (`drippay-kiosk-demo demo|sandbox`; scripts/demo): built from
        // the source tree, never packaged.
        .executableTarget(
            name: "drippay-kiosk-demo",
            dependencies: [
                "KioskCore", "KioskLogging", "KioskDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "drippay-bench",
            dependencies: [
                "KioskCore", "KioskConfig", "ControllerLink", "ControllerSimulator", "VendSession",
                "DripPayAPI", "DripPaySandbox", "KioskJournal", "KioskDisplay", "KioskDaemon", "KioskDemo", "PayCodes",
                "PayCodeImaging", "KioskTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/drippay-bench"),

        // MARK: Tests
        // Helpers shared by the test targets and drippay-bench (seeded generator, child processes,
        // ManualClock, a notify socket); never linked into the shipped binary.
        .target(
            name: "KioskTestSupport", dependencies: ["KioskCore", "PayCodes", "ControllerSimulator", "DripPaySandbox"],
            path: "Tests/KioskTestSupport"),
        .testTarget(name: "KioskCoreTests", dependencies: ["KioskCore"]),
        .testTarget(name: "PayCodesTests", dependencies: ["KioskTestSupport", "PayCodes", "PayCodeImaging"]),
        .testTarget(
            name: "KioskConfigTests",
            dependencies: [
                "KioskTestSupport", "KioskCore", "KioskConfig", "KioskLogging",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "ControllerLinkTests",
            dependencies: [
                "KioskTestSupport", "KioskCore", "ControllerLink", "ControllerSimulator",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // KioskJournal and KioskDaemon: the coordinator suites also run against the real journal
        // (JournalSessionStore over a temporary SQLite file).
        .testTarget(
            name: "VendSessionTests",
            dependencies: ["KioskTestSupport", "KioskCore", "VendSession", "KioskJournal", "KioskDaemon"]),
        .testTarget(
            name: "DripPayAPITests",
            dependencies: [
                "KioskTestSupport", "KioskCore", "DripPayAPI", "DripPayModels", "DripPaySandbox", "PayCodes",
                "PayCodeImaging",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .testTarget(name: "KioskJournalTests", dependencies: ["KioskCore", "KioskJournal"]),
        .testTarget(
            name: "KioskDisplayTests",
            dependencies: ["KioskTestSupport", "KioskCore", "KioskDisplay", "PayCodes"]),
        .testTarget(
            name: "KioskDaemonTests",
            dependencies: [
                "KioskTestSupport", "KioskCore", "KioskConfig", "ControllerLink", "ControllerSimulator", "VendSession",
                "DripPayModels", "DripPayAPI", "DripPaySandbox", "KioskJournal", "KioskDisplay", "PayCodes",
                "KioskDaemon",
                "KioskDemo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // Spawns the built drippay-kiosk binary against the in-process sandbox and a simulated controller.
        .testTarget(
            name: "KioskIntegrationTests",
            dependencies: [
                "KioskTestSupport", "KioskCore", "KioskConfig", "KioskJournal", "DripPaySandbox", "ControllerSimulator",
                "PayCodes", "PayCodeImaging",
            ]),
    ]
)
