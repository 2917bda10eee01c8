from flask import url_for
from flask_restx import Namespace, Resource, fields
from werkzeug.routing import BaseConverter

from app import jobs, tasks
from app.wire.fields import NullableDateTime, NullableInteger, NullableRaw, NullableString

ns = Namespace("jobs", path="/jobs", description="Background jobs the API started")

job = ns.model(
    "Job",
    {
        "id": fields.String(required=True),
        "name": NullableString(description="the task"),
        "state": fields.String(enum=["PENDING", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]),
        "step": NullableString(description="current step of a multi-step job"),
        "percent": NullableInteger(min=0, max=100),
        "progress": NullableRaw(description="step details (epoch, loss...) while running"),
        "result": NullableRaw(),
        "error": NullableString(),
        "created_at": NullableDateTime(),
        "started_at": NullableDateTime(),
        "finished_at": NullableDateTime(),
    },
)
accepted = ns.model("JobAccepted", {"job_id": fields.String(required=True)})


class JobIdConverter(BaseConverter):
    """A job id in a path: any segment but `selfcheck`, so that /jobs/selfcheck is only the
    self-check's (POST) and its OPTIONS do not advertise the GET of a job called selfcheck."""

    regex = "(?!selfcheck$)[^/]+"
    part_isolating = True


JOB_ID_PATTERN = f"^{JobIdConverter.regex}$"  # the same rule, in /swagger.json


def accepted_response(started):
    """202 with the job id and a Location header pointing at it."""
    return {"job_id": started.id}, 202, {"Location": url_for("api.jobs_job", job_id=started.id)}


@ns.route("/<job_id:job_id>")
@ns.param("job_id", "the id returned when the job was started", pattern=JOB_ID_PATTERN)
class Job(Resource):
    @ns.marshal_with(job)
    @ns.response(404, "no such job")
    def get(self, job_id):
        return jobs.job_status(job_id)


@ns.route("/<job_id:job_id>/cancel")
@ns.param("job_id", "the id returned when the job was started", pattern=JOB_ID_PATTERN)
class Cancel(Resource):
    @ns.doc(security="bearer")
    @ns.marshal_with(job)
    @ns.response(404, "no such job")
    def post(self, job_id):
        """Cancel a job: a queued one never runs, a running one is stopped; a finished one stays."""
        return jobs.cancel_job(job_id)


@ns.route("/selfcheck")
class Selfcheck(Resource):
    @ns.doc(security="bearer")
    @ns.response(202, "started", accepted)
    def post(self):
        """Run a worker self-check: broker, worker, MongoDB and result backend end to end."""
        return accepted_response(jobs.start_job(tasks.selfcheck))
