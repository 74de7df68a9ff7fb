"""The illustrative ``telephony/info`` declaration of docs/commands.md, which the tests of
declared commands share. Its reply shape is made up
(``fixtures/illustrative-telephony-info.json``)."""

TELEPHONY_COMMAND = """
[commands."telephony/info"]
payload = "info"
key = "number"
info_metric = "aaisp_telephony_number_info"
info_labels = ["name"]

[[commands."telephony/info".gauges]]
field = "credit"
metric = "aaisp_telephony_credit_gbp"
help = "Prepaid credit of the number (CHAOS credit), in pounds sterling."
"""
