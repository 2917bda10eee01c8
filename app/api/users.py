from flask_restx import Namespace

ns = Namespace("users", path="/users", description="Marketplace users (deletion of their data)")
