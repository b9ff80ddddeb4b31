"""Workspace proxies (Coder's ``enterprise/wsproxy``): what coderd and a proxy share."""
