//! OpenFlow 1.3 wire codec with the Open vSwitch (Nicira) extensions. No sockets, no clock, no logging.
