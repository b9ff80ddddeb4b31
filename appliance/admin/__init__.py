"""The ``appliance`` admin CLI: mirrors, image bundles, the certificate authority."""
