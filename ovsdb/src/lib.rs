//! RFC 7047 (OVSDB) JSON-RPC client and typed helpers for the Open_vSwitch schema.
