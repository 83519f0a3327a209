// KioskLogging: journald-prefixed stderr logging. Filled by the foundation issue.
import KioskCore
