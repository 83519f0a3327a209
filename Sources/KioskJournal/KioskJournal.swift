// KioskJournal: filled by its own issue. Placeholder so the package builds.
import KioskCore
