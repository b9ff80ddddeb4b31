"""Container image bundles: a registry v2 client, the OCI image layout, sync and push.

Written against the OCI Distribution spec on ``requests`` rather than by
shelling out to skopeo, so the appliance binary carries no extra tool and every
byte is verified by its sha256 on the way in and on the way out.
"""
