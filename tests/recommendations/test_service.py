"""Who is asking: what `identify` gathers about a request's user for the engines."""
from datetime import timedelta

from app.marketplace.events import store_events
from app.recommendations import service
from app.recommendations.serving_state import serving_state
from tests.fixtures.journeys import wire_time
from tests.recommendations.serving_fixtures import NOW, serve_marketplace


def test_services_taken_are_the_dumps_accessed_services_then_later_orders(app, db):
    dump = serve_marketplace(app)
    user = next(u for u in dump["users"] if len(u["accessed_services"]) >= 2)
    others = [s["id"] for s in dump["services"] if s["id"] not in user["accessed_services"]]
    later = [others[0], others[1], user["accessed_services"][0]]  # the last one taken again
    with app.app_context():
        store_events([{"user_id": user["id"], "service_id": service_id, "type": kind,
                       "timestamp": wire_time(NOW + timedelta(minutes=minute))}
                      for minute, (service_id, kind) in enumerate(
                          [(later[0], "order"), (others[5], "view"), (later[1], "order"), (later[2], "order")])])
        asker = service.identify({"user_id": user["id"], "unique_id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"},
                                 serving_state())
    assert asker.taken.tolist() == list(user["accessed_services"]) + later  # a view is not a taking
    assert asker.ordered == set(user["accessed_services"]) | set(later)


def test_an_anonymous_visitor_has_taken_nothing(app, db):
    serve_marketplace(app)
    with app.app_context():
        asker = service.identify({"unique_id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"}, serving_state())
    assert asker.taken.size == 0 and asker.user_id is None
