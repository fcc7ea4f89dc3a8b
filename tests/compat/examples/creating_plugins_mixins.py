# Source: traoreera/xcore doc/guides/creating-plugins.md @ 0609a91, "4. Utilisation du SDK Avancé"
from xcore.sdk import (
    TrustedBase,
    AutoDispatchMixin,
    RoutedPlugin,
    action,
    route,
    ok
)

class MonPlugin(RoutedPlugin, AutoDispatchMixin, TrustedBase):

    @action("calcul")
    async def faire_calcul(self, payload: dict):
        # handle("calcul", payload) appellera automatiquement cette méthode
        val = payload.get("val", 0) * 2
        return ok(result=val)

    @route("/status", method="GET")
    async def status_http(self):
        # Route montée sous /plugin/mon_plugin/status
        return {"active": True, "ver": self.ctx.version}
