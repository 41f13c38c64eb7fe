"""`app_identity` over the wire: GetDefaultGcsBucketName and GetServiceAccountName, with the names
production gives an app (`<project>.appspot.com`, `<project>@appspot.gserviceaccount.com`).

Not supported yet: GetAccessToken, SignForApp, GetPublicCertificatesForApp (CALL_NOT_FOUND: there is
no key to sign with, and a fake token would only fail later against real Google APIs).

Imports: the standard library, this package.
"""
from __future__ import annotations

from typing import Any, Dict

from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler


def project_of(app_id: str) -> str:
    """`dev~my-app` -> `my-app`; a domain-scoped `example.com:my-app` keeps its domain."""
    return app_id.split("~", 1)[-1]


class AppIdentity(ServiceHandler):
    name = "app_identity_service"

    def __init__(self, app_id: str) -> None:
        self.project = project_of(app_id)

    def methods(self) -> Dict[str, Method]:
        a = pb().app_identity
        return {
            "GetDefaultGcsBucketName": (a.GetDefaultGcsBucketNameRequest, self.default_bucket),
            "GetServiceAccountName": (a.GetServiceAccountNameRequest, self.service_account),
        }

    def default_bucket(self, request: Any, call: Call) -> Any:
        response = pb().app_identity.GetDefaultGcsBucketNameResponse()
        response.default_gcs_bucket_name = f"{self.project}.appspot.com"
        return response

    def service_account(self, request: Any, call: Call) -> Any:
        response = pb().app_identity.GetServiceAccountNameResponse()
        response.service_account_name = f"{self.project}@appspot.gserviceaccount.com"
        return response
