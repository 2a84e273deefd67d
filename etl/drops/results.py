"""What a load reports: per file (as recorded in ``etl_run_files``) and in all."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileResult:
    """One file (or sheet) of a load, as recorded in ``etl_run_files``."""

    file: str
    sheet: str | None
    kind: str
    encoding: str | None
    sha256: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0


@dataclass
class LoadResult:
    """What one ``load_drop`` did."""

    drop_name: str
    run_id: int | None
    changed: bool
    read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    seconds: float = 0.0
    files: list[FileResult] = field(default_factory=list)
    data_period: str | None = None
    dry_run: bool = False
    repeat_of: int | None = None
    derived_inserted: int = 0
    derived_updated: int = 0

    @property
    def file_count(self) -> int:
        return len({f.file for f in self.files})

    def summary_line(self) -> str:
        """The one line the CLI prints."""
        if self.repeat_of is not None:
            return f"{self.drop_name} already loaded as run {self.repeat_of}; nothing changed"
        files = f"{self.file_count} file{'s' if self.file_count != 1 else ''}"
        rows = f"{self.read:,} row{'s' if self.read != 1 else ''} read"
        if self.dry_run:
            return (f"Dry run of {self.drop_name}: {files}, {rows}, "
                    f"{self.inserted:,} would be inserted, {self.updated:,} updated, "
                    f"{self.rejected:,} rejected in {self.seconds:.1f} s (nothing written)")
        tail = f"run {self.run_id}" + ("" if self.changed else "; nothing changed")
        return (f"Loaded {self.drop_name}: {files}, {rows}, "
                f"{self.inserted:,} inserted, {self.updated:,} updated, {self.rejected:,} "
                f"rejected in {self.seconds:.1f} s ({tail})")
