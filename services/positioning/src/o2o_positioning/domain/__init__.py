"""Positioning's rules and estimators, without I/O: venue geometry, Wi-Fi fingerprinting,
BLE ranging, fusion, tracking, zone presence, navigation and analytics."""
