from flask_restx import Namespace

ns = Namespace("update", path="/update", description="Full marketplace database dumps")
