"""Positioning: indoor fixes from Wi-Fi and BLE, zone dwell, in-store analytics and navigation."""
