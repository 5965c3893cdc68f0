//! Switchyard node agent: wires pod network namespaces in with rtnetlink and sets up the node host side.
