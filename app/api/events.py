from flask_restx import Namespace

ns = Namespace("events", path="/events", description="Generic interaction events")
