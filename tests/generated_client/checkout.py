"""A client generated from the live API's own GET /openapi.json (openapi-python-client) runs a
checkout: the admin creates a sale with holds, a buyer buys and the payment system pays, a
second buyer buys and cancels with the hold's token. Every call goes through the generated
client, each with the credential its operation's security scheme names; the statuses and the
bodies are asserted, and so are the refusals of a call without its credential.

    tests/generated_client/checkout.py BASE_URL OUT_DIR      (ops/openapi-check runs it)

Needs FLASHSALE_ADMIN_TOKEN and FLASHSALE_PAYMENT_SECRET (the API's), and openapi-python-client
in the running Python (its runtime, httpx and attrs, is what the generated code imports).
"""

import hashlib
import hmac
import importlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid

BASE_URL, OUT_DIR = sys.argv[1], sys.argv[2]
ADMIN_TOKEN = os.environ["FLASHSALE_ADMIN_TOKEN"]
PAYMENT_SECRET = os.environ["FLASHSALE_PAYMENT_SECRET"].encode()
SALE = "generated-" + uuid.uuid4().hex[:8]
STOCK = 2
PACKAGE = "flashsale_client"
# The generator's post-hooks format with ruff, which is not installed: nothing to run.
CONFIG = "post_hooks: []\n"


def generate():
    """Generates the client package into OUT_DIR from the served document; returns it."""
    document = os.path.join(OUT_DIR, "openapi.json")
    with urllib.request.urlopen(BASE_URL + "/openapi.json", timeout=10) as answer:
        with open(document, "wb") as out:
            out.write(answer.read())
    config = os.path.join(OUT_DIR, "openapi-python-client.yaml")
    with open(config, "w") as out:
        out.write(CONFIG)
    subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "openapi-python-client"), "generate",
         "--path", document, "--output-path", os.path.join(OUT_DIR, PACKAGE),
         "--meta", "none", "--overwrite", "--config", config],
        check=True,
    )
    sys.path.insert(0, OUT_DIR)
    return importlib.import_module(PACKAGE)


def sign_payment(request):
    """An httpx request hook: signs a payment call as the shop's payment system does, over the
    exact bytes the generated client sends (the payment_signature and payment_timestamp
    schemes)."""
    timestamp = str(int(time.time()))
    purchase_id = request.url.path.rstrip("/").split("/")[-2]
    message = b".".join([timestamp.encode(), purchase_id.encode(), request.content])
    request.headers["Flashsale-Timestamp"] = timestamp
    request.headers["Flashsale-Signature"] = hmac.new(PAYMENT_SECRET, message, hashlib.sha256).hexdigest()


def expect(response, status, what):
    assert response.status_code == status, (
        f"{what}: {response.status_code}, wanted {status}: {response.content[:300]!r}")
    return response.parsed


def main():
    client = generate()
    models = importlib.import_module(PACKAGE + ".models")
    # One module per operation, under its tag: api/<tag>/<operationId>.py.
    put_sale, create_purchase, pay_hold, cancel_hold, get_sale = (
        importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}").sync_detailed
        for tag, operation in [("admin", "put_sale"), ("purchases", "create_purchase"),
                               ("holds", "pay_hold"), ("holds", "cancel_hold"), ("sales", "get_sale")])

    # The admin scheme: the bearer token. The generated AuthenticatedClient sends it.
    as_admin = client.AuthenticatedClient(base_url=BASE_URL, token=ADMIN_TOKEN)
    # Operations whose security lists `{}` (an open sale's purchase, a cancel with the
    # hold_token in its body) need no credential.
    anonymous = client.Client(base_url=BASE_URL)
    payments = client.Client(base_url=BASE_URL, httpx_args={"event_hooks": {"request": [sign_payment]}})

    sale_body = models.SaleBody(name="generated client", stock=STOCK, per_user_limit=1,
                                hold_seconds=120, strategy=models.Strategy.ASYNC)
    refused = expect(put_sale(SALE, client=anonymous, body=sale_body),
                     401, "a sale created without the admin token")
    assert refused.error == models.ErrorCode.UNAUTHORIZED, refused
    sale = expect(put_sale(SALE, client=as_admin, body=sale_body), 201, "the sale created")
    assert (sale.sale_id, sale.stock, sale.remaining, sale.hold_seconds) == (SALE, STOCK, STOCK, 120), sale

    # Buy, then pay.
    bought = expect(create_purchase(
        SALE, client=anonymous, body=models.PurchaseBody(user_id="alice", quantity=1)), 202, "alice's purchase")
    assert (bought.sale_id, bought.user_id, bought.quantity) == (SALE, "alice", 1), bought
    assert bought.hold_state == models.HoldState.HELD and bought.hold_token, bought
    payment = models.PaymentBody(payment_ref="pay-" + uuid.uuid4().hex[:8])
    unsigned = expect(pay_hold(bought.purchase_id, client=anonymous, body=payment),
                      401, "a payment without its signature")
    assert unsigned.error == models.ErrorCode.INVALID_SIGNATURE, unsigned
    paid = expect(pay_hold(bought.purchase_id, client=payments, body=payment),
                  200, "alice's payment")
    assert paid.purchase_id == bought.purchase_id and paid.hold_state == models.HoldState.PAID, paid
    assert paid.payment_ref == payment.payment_ref, paid

    # Buy again, then cancel with the hold's token.
    second = expect(create_purchase(
        SALE, client=anonymous, body=models.PurchaseBody(user_id="bob")), 202, "bob's purchase")
    assert second.hold_state == models.HoldState.HELD and second.hold_token, second
    wrong = expect(cancel_hold(
        second.purchase_id, client=anonymous, body=models.CancelBody(hold_token="not-" + second.hold_token)),
        403, "a cancel with another hold token")
    assert wrong.error == models.ErrorCode.WRONG_HOLD_TOKEN, wrong
    cancelled = expect(cancel_hold(
        second.purchase_id, client=anonymous, body=models.CancelBody(hold_token=second.hold_token)),
        200, "bob's cancel")
    assert cancelled.purchase_id == second.purchase_id, cancelled
    assert cancelled.hold_state == models.HoldState.CANCELLED, cancelled

    # One unit paid, the cancelled one back on sale.
    sale = expect(get_sale(SALE, client=anonymous), 200, "the sale")
    assert (sale.paid, sale.held, sale.remaining) == (1, 0, STOCK - 1), sale
    print(f"generated client: sale {SALE} created, bought, paid, bought, cancelled")


if __name__ == "__main__":
    main()
