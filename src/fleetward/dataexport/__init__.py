"""An owner's data: the export bundle and erasure by crypto-shredding (GDPR Art. 15, 17, 20).

See :mod:`fleetward.dataexport.service` and ``docs/history.md``.
"""

from fleetward.dataexport.service import EXPORT_FORMAT, ErasureReport, OwnerData

__all__ = ["EXPORT_FORMAT", "ErasureReport", "OwnerData"]
