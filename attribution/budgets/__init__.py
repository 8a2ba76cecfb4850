"""Budgets and their alerts: spend and projection per budget (:mod:`.status`), alerts fired once per
crossing and delivered as signed webhooks with retries (:mod:`.check`, :mod:`.webhook`, :mod:`.signing`).
See docs/budgets.md."""
