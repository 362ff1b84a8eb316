"""The intake service as nameko runs it."""

from gridlink.runtime.dependencies import LogContext, Reference, Storage
from gridlink.runtime.entrypoints import ApiError, NotFound, Unprocessable, http, json_response, parse_json_body
from gridlink.runtime.ops import OpsEndpoints
from intake import handlers
from intake.adapters.orm import metadata
from intake.adapters.reference import load_reference
from intake.adapters.repository import IntakeUnitOfWork
from intake.domain.commands import SubmitReport
from intake.domain.errors import OutsideDistrict, ReportNotFound, UnknownAddress, UnknownCategory
from intake.domain.model import Report, mask_phone
from intake.entrypoints.schemas import ReportRequestSchema


def report_view(report: Report) -> dict:
    p = report.placement
    return {
        "report_id": report.report_id,
        "tracking_code": report.tracking_code,
        "status": report.status,
        "channel": report.channel,
        "category": report.category_code,
        "urgency": report.urgency,
        "description": report.description,
        "grid_code": p.grid_code,
        "community_code": p.community_code,
        "sub_centre_code": p.sub_centre_code,
        "lat": p.lat,
        "long": p.long,
        "address": p.address,
        "reporter_phone": mask_phone(report.reporter_phone),
        "submitted_at": report.submitted_at.isoformat(),
    }


class IntakeService(OpsEndpoints):
    name = "intake"

    storage = Storage(metadata, IntakeUnitOfWork)
    reference = Reference(load_reference)
    log_context = LogContext()

    http_errors = {
        ReportNotFound: NotFound,
        UnknownCategory: ApiError,
        UnknownAddress: ApiError,
        OutsideDistrict: Unprocessable,
    }

    @http("POST", "/reports")
    def post_report(self, request):
        data = ReportRequestSchema().load(parse_json_body(request))
        reporter = data.pop("reporter") or {}
        cmd = SubmitReport(
            channel=data["channel"],
            category_code=data["category"],
            description=data["description"],
            lat=data["lat"],
            long=data["long"],
            address_id=data["address_id"],
            address=data["address"],
            reporter_name=reporter.get("name"),
            reporter_phone=reporter.get("phone"),
        )
        report = handlers.submit_report(self.storage.uow(), self.reference, cmd)
        return json_response(report_view(report), 201, {"Location": f"/reports/{report.report_id}"})

    @http("GET", "/reports/<string:report_id>")
    def get_report(self, request, report_id):
        return json_response(report_view(handlers.get_report(self.storage.uow(), report_id)))
