"""tcp-fault-lab: what a program sees when a TCP connection breaks, measured."""
