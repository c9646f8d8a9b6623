"""Plenary exhibition service: exhibitors, booths, materials, visits, downloads and consent-based leads."""
