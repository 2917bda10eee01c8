"""DELETE /users/<id>: forget one user's interaction data."""
from __future__ import annotations

from flask_restx import Namespace, Resource, fields

from app.marketplace.users import delete_user_data

ns = Namespace("users", path="/users", description="Marketplace users (deletion of their data)")

counts = ns.model("DeletedCounts", {
    "user_actions": fields.Integer(required=True),
    "events": fields.Integer(required=True),
    "recommendations": fields.Integer(required=True, description="logged served recommendations"),
    "shadow_recommendations": fields.Integer(required=True, description="what experiments' shadow variants "
                                                                        "computed for them"),
    "experiment_units": fields.Integer(required=True, description="their per-person experiment counts"),
})
deletion = ns.model("UserDataDeleted", {
    "user_id": fields.Integer(required=True),
    "deleted": fields.Nested(counts, required=True),
    "models_marked_stale": fields.Integer(required=True, description="candidate and active versions to retrain"),
})


@ns.route("/<int:user_id>")
@ns.param("user_id", "the marketplace's id of the user")
class UserData(Resource):
    @ns.doc(security="bearer")
    @ns.marshal_with(deletion)
    @ns.response(400, "the id cannot be a user's")
    def delete(self, user_id):
        """Delete the user's actions, events and logged recommendations, and those of the
        anonymous sessions seen with the user; mark models trained on them stale.

        Idempotent: an unknown user, or one already deleted, gets 200 with zero counts.
        """
        return delete_user_data(user_id)
