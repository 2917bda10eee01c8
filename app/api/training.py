"""POST /training: start training jobs on demand."""
from flask import request, url_for
from flask_restx import Namespace, Resource, fields

from app import tasks

ns = Namespace("training", path="/training", description="Train models on a dataset snapshot")

training_request = ns.model("TrainingRequest", {
    "engines": fields.List(fields.String(enum=sorted(tasks.TRAINERS)), required=True, min_items=1,
                           description="what to train: ncf (autoencoders + NCF), interaction_models "
                                       "(Popularity and Session), rl (the actor-critic agent)"),
    "snapshot_id": fields.String(max_length=128, description="a dataset snapshot; the active one by default"),
})
started = ns.model("TrainingStarted", {
    "job_id": fields.String(description="the first job"),
    "jobs": fields.Raw(description="engine → job id, each followed at /jobs/<id>"),
})


@ns.route("")
class Training(Resource):
    @ns.doc(security="bearer")
    @ns.expect(training_request)
    @ns.response(202, "started", started)
    def post(self):
        """Train the given engines (one job each; a job already running for the same snapshot is reused)."""
        body = request.get_json()
        jobs = {engine: tasks.start_training(engine, body.get("snapshot_id")).id
                for engine in dict.fromkeys(body["engines"])}
        first = next(iter(jobs.values()))
        return {"job_id": first, "jobs": jobs}, 202, {"Location": url_for("api.jobs_job", job_id=first)}
