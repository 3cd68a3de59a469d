"""Units of the trade in SI, defined once: the service computes in metres, seconds and metres
per second, and converts at its edges (feeds, formats, agreements' defaults, words shown)."""

#: One international nautical mile, metres.
NM_M = 1852.0
#: One international foot, metres.
FT_M = 0.3048
#: One knot (a nautical mile an hour), metres per second.
KT_MPS = NM_M / 3600.0
#: One foot per minute, metres per second.
FPM_MPS = FT_M / 60.0
