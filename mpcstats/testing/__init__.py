"""Harnesses for trying mpcstats on one machine: a federation of real daemon processes on
loopback with a throwaway PKI (:mod:`.loopback`), and the demo (:mod:`.demo`)."""
