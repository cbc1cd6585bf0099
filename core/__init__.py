"""The ground floor: settings, model paths, HTTP helpers and the version, importable by every
package (and importing none of them)."""

__version__ = "0.1.0"
