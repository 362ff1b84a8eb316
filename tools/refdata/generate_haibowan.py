#!/usr/bin/env python3
"""Generate Haibowan's reference data (organisation, grids, staff, categories, addresses) into data/haibowan.

Names and counts follow the district's January 2021 pilot report; geometry, people and addresses are
synthetic. A fixed seed and iteration order make every run byte-identical. Stdlib only.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

SEED = 150302
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "data" / "haibowan"

# --- Facts from the district report -------------------------------------------------------------------------

DISTRICT = {"code": "150302", "name": "海勃湾区", "name_en": "Haibowan District"}
CENTRE = {
    "name": "海勃湾区社会治理指挥服务中心",
    "name_en": "Haibowan District Social Governance Command and Service Centre",
    "area_m2": 3376,
}
ZONES = [
    ("offices", "办公区", "Offices"),
    ("command_hall", "指挥大厅", "Command hall"),
    ("exhibition", "展示区", "Exhibition"),
    ("reception", "受理导服区", "Reception and guidance"),
    ("dispute_resolution", "矛盾多元化解区", "Diversified dispute resolution"),
]
FUNCTION_ROOMS = [
    ("public_legal_services", "公共法律服务", "Public legal services"),
    ("psychological_counselling", "心理咨询服务", "Psychological counselling"),
    ("peoples_mediation", "人民调解", "People's mediation"),
    ("judicial_mediation", "司法调解", "Judicial mediation"),
    ("labour_arbitration", "劳动仲裁", "Labour arbitration"),
    ("micro_court_mediation", "微法院诉前调解", "Micro-court pre-litigation mediation"),
    ("online_mediation", "线上远程调解", "Online remote mediation"),
    ("labour_inspection", "劳动监察", "Labour inspection"),
    ("old_secretary_studio", "“老书记”工作室", '"Old party secretary" studio'),
    ("administrative_reconsideration", "行政复议", "Administrative reconsideration"),
]
PLATFORMS = [
    (
        "petition_mediation_centre",
        "海勃湾区信访矛盾联合调处中心",
        "Petition and Dispute Joint Mediation Centre",
    ),
    ("party_mass_service_centre", "海勃湾区党群服务中心", "Party-Mass Service Centre"),
]

# Sub-centres in code order (150302001..007), each with its communities; pilot workstations are marked True.
# Only the pilots are real names; the other community and village names are synthetic.
SUB_CENTRES = [
    ("海北街道", "Haibei", "subdistrict", [
        ("佳苑", "Jiayuan", True), ("团结", "Tuanjie", False), ("北湖", "Beihu", False),
        ("长青", "Changqing", False), ("民族", "Minzu", False), ("锦华", "Jinhua", False),
        ("幸福", "Xingfu", False),
    ]),
    ("滨河街道", "Binhe", "subdistrict", [
        ("滨河", "Binhe", True), ("河畔", "Hepan", False), ("黄河", "Huanghe", False),
        ("金沙", "Jinsha", False), ("湖景", "Hujing", False), ("翠湖", "Cuihu", False),
    ]),
    ("新华街道", "Xinhua", "subdistrict", [
        ("康乐", "Kangle", True), ("光明", "Guangming", False), ("人民", "Renmin", False),
        ("和谐", "Hexie", False), ("文化", "Wenhua", False), ("胜利", "Shengli", False),
    ]),
    ("新华西街道", "Xinhuaxi", "subdistrict", [
        ("海达", "Haida", True), ("西山", "Xishan", False), ("育才", "Yucai", False),
        ("建设", "Jianshe", False), ("友谊", "Youyi", False), ("春晖", "Chunhui", False),
    ]),
    ("凤凰岭街道", "Fenghuangling", "subdistrict", [
        ("和平", "Heping", True), ("凤苑", "Fengyuan", False), ("祥和", "Xianghe", False),
        ("安康", "Ankang", False), ("金泰", "Jintai", False), ("丰泽", "Fengze", False),
    ]),
    ("林荫街道", "Linyin", "subdistrict", [
        ("海馨", "Haixin", True), ("林苑", "Linyuan", False), ("青松", "Qingsong", False),
        ("朝阳", "Chaoyang", False), ("东风", "Dongfeng", False),
    ]),
    ("千里山镇", "Qianlishan", "town", [
        ("新地", "Xindi", True), ("北山", "Beishan", False), ("东山", "Dongshan", False),
        ("苗圃", "Miaopu", False), ("乌兰", "Wulan", False),
    ]),
]  # fmt: skip

RURAL_GRIDS_PER_VILLAGE = [7, 6, 6, 6, 6]  # 31 rural grids, all in Qianlishan
URBAN_GEOGRAPHIC_GRIDS = 371
STAFF_TOTALS = {"grid_leader": 270, "part_time_worker": 1112}
STAFF_COLUMNS = ("staff_id", "name", "role", "grid_codes", "community_code", "phone", "email")

# 33 dedicated grids, for enterprises, institutions and sectors.
DEDICATED_GRIDS = [
    "乌海市人民医院", "乌海市蒙医中医医院", "乌海市妇幼保健院", "海勃湾区人民医院", "乌海市疾病预防控制中心",
    "乌海市第一中学", "乌海市第三中学", "乌海市第六中学", "乌海市第十中学", "乌海市实验小学",
    "乌海职业技术学院", "乌海火车站", "乌海汽车客运站", "乌海湖景区", "甘德尔山景区", "乌海市政务服务中心",
    "海勃湾区政务服务中心", "乌海市体育中心", "乌海市图书馆", "乌海书法艺术馆", "海勃湾农贸市场",
    "海勃湾商业步行街", "乌海百货大楼", "乌海市供热公司", "乌海市自来水公司", "乌海供电公司",
    "海勃湾物流园区", "海勃湾建材市场", "乌海市社会福利院", "海勃湾区养老服务中心", "海勃湾区建筑工地",
    "快递物流行业", "出租车行业",
]  # fmt: skip
# Grids whose addresses are at a named site rather than under the grid's own name.
DEDICATED_SITES = {
    "乌海湖景区": "乌海湖景区游客中心",
    "甘德尔山景区": "甘德尔山景区游客中心",
    "海勃湾区建筑工地": "海勃湾区建筑工地联合项目部",
    "快递物流行业": "快递物流集散中心",
    "出租车行业": "出租车综合服务站",
}

# housing also supervises property management companies (物业)
DEPARTMENTS = [
    ("city_management", "海勃湾区城市管理综合执法局", "City Management and Law Enforcement Bureau"),
    ("public_security", "乌海市公安局海勃湾区分局", "Public Security Sub-bureau"),
    ("fire", "海勃湾区消防救援大队", "Fire and Rescue Brigade"),
    ("housing", "海勃湾区住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    ("human_resources", "海勃湾区人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    ("market_regulation", "海勃湾区市场监督管理局", "Market Regulation Bureau"),
    ("civil_affairs", "海勃湾区民政局", "Civil Affairs Bureau"),
    ("justice", "海勃湾区司法局", "Judicial Bureau"),
    ("ecology_environment", "乌海市生态环境局海勃湾区分局", "Ecology and Environment Sub-bureau"),
    ("health", "海勃湾区卫生健康委员会", "Health Commission"),
    ("emergency_management", "海勃湾区应急管理局", "Emergency Management Bureau"),
    ("education", "海勃湾区教育局", "Education Bureau"),
    ("petition", "海勃湾区信访局", "Petition Bureau"),
    ("court", "海勃湾区人民法院", "Haibowan District People's Court"),
    (
        "labour_arbitration",
        "海勃湾区劳动人事争议仲裁委员会",
        "Labour and Personnel Dispute Arbitration Commission",
    ),
    ("legal_aid", "海勃湾区法律援助中心", "Legal Aid Centre"),
]

# (code, name, name_en, kind, urgency, department, iot, description)
CATEGORIES = [
    ("illegal_parking", "违章停车", "Illegal parking",
     "general", "normal", "city_management", True, "车辆乱停乱放、占用人行道或绿地"),
    ("fire_lane_blocked", "占用消防通道", "Fire lane blocked",
     "general", "high", "fire", True, "车辆或杂物堵塞消防通道，智能摄像头可声光报警"),
    ("garbage", "垃圾堆放", "Garbage piling up",
     "general", "low", "city_management", False, "生活垃圾、建筑垃圾乱堆乱放或清运不及时"),
    ("street_lamp", "路灯损坏", "Broken street lamp",
     "general", "low", "city_management", False, "路灯、景观灯不亮或损坏"),
    ("road_damage", "道路破损", "Road damage",
     "general", "normal", "city_management", False, "路面坑洼、井盖缺失或破损"),
    ("illegal_construction", "违法建设", "Illegal construction",
     "general", "normal", "city_management", False, "私搭乱建、违规改建扩建"),
    ("street_vending", "占道经营", "Street vending",
     "general", "low", "city_management", False, "占用道路、人行道摆摊经营"),
    ("noise", "噪声扰民", "Noise nuisance",
     "general", "normal", "ecology_environment", False, "施工、商铺、娱乐场所噪声扰民"),
    ("pollution", "环境污染", "Pollution",
     "general", "high", "ecology_environment", False, "废气、污水、扬尘等环境污染"),
    ("ebike_in_lift", "电动车进电梯", "E-bike in lift",
     "general", "high", "fire", True, "电动自行车进入电梯或入户充电，梯控系统可自动识别"),
    ("thrown_from_height", "高空抛物", "Objects thrown from height",
     "general", "high", "public_security", True, "高空抛物、坠物，高空监控摄像头可自动抓拍"),
    ("fire_hazard", "火灾隐患", "Fire hazard",
     "general", "critical", "fire", True, "私拉电线、违规用火用气等火灾隐患"),
    ("public_security", "治安隐患", "Public security risk",
     "general", "high", "public_security", False, "可疑人员、治安隐患及其他影响安全的情况"),
    ("property_service", "物业服务投诉", "Property management complaint",
     "general", "normal", "housing", False, "物业服务不到位、公共设施失修、电梯故障"),
    ("utility_outage", "供水供暖故障", "Water or heating outage",
     "general", "high", "housing", False, "停水、停暖、管道跑冒滴漏"),
    ("food_safety", "食品安全", "Food safety",
     "general", "high", "market_regulation", False, "无证经营、过期变质食品等食品安全问题"),
    ("neighbour_dispute", "邻里纠纷", "Neighbour dispute",
     "dispute", "normal", "justice", False, "相邻关系、漏水、噪声、公共空间占用等邻里矛盾"),
    ("family_dispute", "婚姻家庭纠纷", "Family dispute",
     "dispute", "normal", "justice", False, "婚姻、赡养、抚养、继承等家庭矛盾"),
    ("property_dispute", "物业纠纷", "Property management dispute",
     "dispute", "normal", "housing", False, "业主与物业企业之间的物业费、服务质量纠纷"),
    ("wage_arrears_dispute", "劳动欠薪纠纷", "Labour and wage arrears dispute",
     "dispute", "high", "human_resources", False, "拖欠工资、劳动合同、工伤待遇等劳动争议"),
    ("tenancy_dispute", "房屋租赁纠纷", "Landlord-tenant dispute",
     "dispute", "normal", "justice", False, "租金、押金、房屋维修等租赁纠纷"),
    ("consumer_dispute", "消费纠纷", "Consumer dispute",
     "dispute", "low", "market_regulation", False, "商品质量、预付卡、售后服务等消费纠纷"),
    ("elder_visit", "走访慰问老人", "Visit to an elderly resident",
     "volunteer", "low", "civil_affairs", False, "探访独居、空巢、高龄老人，陪伴聊天"),
    ("tutoring", "课业辅导", "Homework tutoring",
     "volunteer", "low", "education", False, "为困难家庭、留守儿童提供课业辅导"),
    ("cleaning_help", "保洁帮扶", "Cleaning help",
     "volunteer", "low", "civil_affairs", False, "为老弱病残家庭打扫卫生"),
    ("small_repairs", "小修小补", "Small household repairs",
     "volunteer", "low", "civil_affairs", False, "换灯泡、修水龙头等家庭小维修"),
    ("hospital_escort", "就医陪护", "Hospital accompaniment",
     "volunteer", "normal", "health", False, "陪同老人、残疾人就医取药"),
    ("legal_consultation", "法律咨询", "Legal consultation",
     "volunteer", "low", "justice", False, "志愿律师提供免费法律咨询"),
    ("psychological_support", "心理疏导", "Psychological support",
     "volunteer", "normal", "health", False, "心理咨询师提供情绪疏导与心理支持"),
]  # fmt: skip

# --- Synthetic people ---------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾"
    "丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段"
)
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志刚海燕春梅晓东文斌淑珍凤英宏"
    "亮丹亚飞雪琴鹏辉慧宇佳欣怡浩然子涵思雨俊峰瑞丽"
)
# Inner Mongolia: a share of staff have Mongolian given names, usually written without a surname.
MONGOLIAN_NAMES = (
    "巴特尔", "其其格", "乌云", "萨仁", "敖登", "格日勒", "额尔敦", "苏日娜", "斯琴", "宝音", "娜仁", "朝鲁",
    "阿拉坦", "图雅", "乌力吉", "那日苏", "哈斯", "高娃", "孟和", "吉日嘎拉",
)  # fmt: skip

# --- Geometry -----------------------------------------------------------------------------------------------

BBOX = (106.78, 39.65, 106.90, 39.80)  # min long, min lat, max long, max lat
URBAN_EAST_EDGE = 106.864  # Qianlishan, the rural town, takes the eastern strip toward the mountains
KM_PER_DEG_LAT = 110.57
KM_PER_DEG_LONG = 111.32 * math.cos(math.radians(39.725))
DEDICATED_WEIGHT = 0.35  # dedicated grids are small sites: a hospital, a school, a station

Rect = tuple[float, float, float, float]  # min long, min lat, max long, max lat
Row = list[str]  # a CSV row


@dataclass
class CommunityPlan:
    code: str
    name: str
    name_en: str
    sub_centre_code: str
    sub_centre_name: str
    kind: str
    pilot: bool
    geographic: int
    dedicated: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class GridPlan:
    code: str
    name: str
    community: CommunityPlan
    kind: str
    area: str
    population: int
    buildings: int
    site: str = ""  # the dedicated grid's site
    host: GridPlan | None = None  # a dedicated grid's neighbour, whose full-time worker also handles it
    first_building: int = 1  # building numbers are unique within a community
    rect: Rect = (0.0, 0.0, 0.0, 0.0)
    cutout: Rect | None = None  # a host's corner given to its dedicated grid, leaving the host L-shaped

    def ring(self) -> list[tuple[float, float]]:
        """Counter-clockwise exterior ring, closed, as RFC 7946 asks."""
        x0, y0, x1, y1 = self.rect
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        if self.cutout is not None:
            cx0, cy0, cx1, cy1 = self.cutout
            for index, (x, y) in enumerate(corners):
                if (x in (cx0, cx1)) and (y in (cy0, cy1)):
                    inner = (cx0 if x == cx1 else cx1, cy0 if y == cy1 else cy1)
                    # walking counter-clockwise, the edge into a bottom-left or top-right corner is vertical
                    if index % 2 == 0:
                        notch = [(x, inner[1]), inner, (inner[0], y)]
                    else:
                        notch = [(inner[0], y), inner, (x, inner[1])]
                    corners[index : index + 1] = notch
                    break
        return corners + corners[:1]

    def interior_point(self, rng: random.Random) -> tuple[float, float]:
        """A random (long, lat) well inside the grid, so that it stays inside after rounding to 6 decimals."""
        x0, y0, x1, y1 = self.rect
        margin_x, margin_y = (x1 - x0) * 0.1, (y1 - y0) * 0.1
        while True:
            long = round(rng.uniform(x0 + margin_x, x1 - margin_x), 6)
            lat = round(rng.uniform(y0 + margin_y, y1 - margin_y), 6)
            if self.cutout is None:
                return long, lat
            cx0, cy0, cx1, cy1 = self.cutout
            if not (cx0 - margin_x <= long <= cx1 + margin_x and cy0 - margin_y <= lat <= cy1 + margin_y):
                return long, lat


def plan_communities(rng: random.Random) -> list[CommunityPlan]:
    communities: list[CommunityPlan] = []
    for sub_index, (sub_name, _sub_en, sub_kind, members) in enumerate(SUB_CENTRES, start=1):
        sub_code = f"{DISTRICT['code']}{sub_index:03d}"
        for index, (name, name_en, pilot) in enumerate(members, start=1):
            village = sub_kind == "town"
            communities.append(
                CommunityPlan(
                    code=f"{sub_code}{index:03d}",
                    name=f"{name}{'村' if village else '社区'}",
                    name_en=f"{name_en} {'Village' if village else 'Community'}",
                    sub_centre_code=sub_code,
                    sub_centre_name=sub_name,
                    kind="village" if village else "community",
                    pilot=pilot,
                    geographic=0,
                )
            )
    villages = [c for c in communities if c.kind == "village"]
    urban = [c for c in communities if c.kind == "community"]
    for village, count in zip(villages, RURAL_GRIDS_PER_VILLAGE, strict=True):
        village.geographic = count
    counts = _composition(rng, URBAN_GEOGRAPHIC_GRIDS, len(urban), 7, 14)
    for community, count in zip(urban, counts, strict=True):
        community.geographic = count
    for label in DEDICATED_GRIDS:
        hosts = [c for c in urban if len(c.dedicated) < 2]
        rng.choice(hosts).dedicated.append((label, DEDICATED_SITES.get(label, label)))
    return communities


def _composition(rng: random.Random, total: int, parts: int, low: int, high: int) -> list[int]:
    """Random parts in [low, high] summing to total, by moving units between parts from an even start."""
    counts = [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
    for _ in range(parts * 8):
        give, take = rng.randrange(parts), rng.randrange(parts)
        if give != take and counts[give] > low and counts[take] < high:
            counts[give] -= 1
            counts[take] += 1
    return counts


def plan_grids(rng: random.Random, communities: list[CommunityPlan]) -> list[GridPlan]:
    grids: list[GridPlan] = []
    for community in communities:
        rural = community.kind == "village"
        number = 0
        next_building = 1
        members: list[GridPlan] = []
        for index in range(1, community.geographic + 1):
            number += 1
            members.append(
                GridPlan(
                    code=f"{community.code}{number:03d}",
                    name=f"{community.name}第{index}网格",
                    community=community,
                    kind="geographic",
                    area="rural" if rural else "urban",
                    population=rng.randint(120, 450) if rural else rng.randint(600, 1400),
                    buildings=rng.randint(25, 90) if rural else rng.randint(6, 24),
                )
            )
        hosts = rng.sample(members, len(community.dedicated))
        for (label, site), host in zip(community.dedicated, hosts, strict=True):
            number += 1
            members.append(
                GridPlan(
                    code=f"{community.code}{number:03d}",
                    name=f"{label}专属网格",
                    community=community,
                    kind="dedicated",
                    area="urban",
                    population=rng.randint(50, 1500),
                    buildings=rng.randint(3, 10),  # at least one per address drawn
                    site=site,
                    host=host,
                )
            )
        for grid in members:
            grid.first_building = next_building
            next_building += grid.buildings
        grids.extend(members)
    return grids


def lay_out(rng: random.Random, communities: list[CommunityPlan], grids: list[GridPlan]) -> None:
    """Tile the district: urban sub-districts west, Qianlishan east; split into communities, then grids.

    A dedicated grid is a corner cut from its host's cell, which keeps it small, compact and next to its host.
    """
    min_long, min_lat, max_long, max_lat = BBOX
    weights = {g.code: rng.uniform(0.7, 1.3) for g in grids if g.kind == "geographic"}
    hosted = {g.host.code: g for g in grids if g.host is not None}
    cell_weights = {code: w + (DEDICATED_WEIGHT if code in hosted else 0.0) for code, w in weights.items()}
    geographic = [g for g in grids if g.kind == "geographic"]
    cells_of = {c.code: [g for g in geographic if g.community is c] for c in communities}

    def weight(community: CommunityPlan) -> float:
        return sum(cell_weights[g.code] for g in cells_of[community.code])

    sub_codes = list(dict.fromkeys(c.sub_centre_code for c in communities))
    town_code = next(c.sub_centre_code for c in communities if c.kind == "village")
    urban_codes = [code for code in sub_codes if code != town_code]
    regions = {town_code: (URBAN_EAST_EDGE, min_lat, max_long, max_lat)}
    urban_weights = [sum(weight(c) for c in communities if c.sub_centre_code == code) for code in urban_codes]
    urban_rects = split((min_long, min_lat, URBAN_EAST_EDGE, max_lat), urban_weights)
    regions |= dict(zip(urban_codes, urban_rects, strict=True))
    for sub_code in sub_codes:
        members = [c for c in communities if c.sub_centre_code == sub_code]
        rects = split(regions[sub_code], [weight(c) for c in members])
        for community, rect in zip(members, rects, strict=True):
            cells = list(cells_of[community.code])
            rng.shuffle(cells)  # numbering need not follow position
            for grid, cell in zip(cells, split(rect, [cell_weights[g.code] for g in cells]), strict=True):
                grid.rect = cell
                if grid.code in hosted:
                    grid.cutout = hosted[grid.code].rect = corner(rng, cell)


def corner(rng: random.Random, rect: Rect) -> Rect:
    """A random corner of rect, under half of each side, so the L-shaped rest keeps its centroid inside."""
    x0, y0, x1, y1 = rect
    width = (x1 - x0) * rng.uniform(0.35, 0.45)
    height = (y1 - y0) * rng.uniform(0.35, 0.45)
    left, bottom = rng.random() < 0.5, rng.random() < 0.5
    xm = round(x0 + width if left else x1 - width, 6)
    ym = round(y0 + height if bottom else y1 - height, 6)
    return (x0 if left else xm, y0 if bottom else ym, xm if left else x1, ym if bottom else y1)


def split(rect: Rect, weights: list[float]) -> list[Rect]:
    """Ordered treemap: halve the items by weight and cut the rectangle across its longer side, recursively.

    Cuts are rounded to 6 decimals before use, so neighbours share exactly the same edge coordinates.
    """
    if len(weights) == 1:
        return [rect]
    total = sum(weights)
    running = [sum(weights[: k + 1]) for k in range(len(weights))]
    cut_after = min(range(1, len(weights)), key=lambda k: abs(running[k - 1] - total / 2))
    ratio = running[cut_after - 1] / total
    x0, y0, x1, y1 = rect
    if (x1 - x0) * KM_PER_DEG_LONG >= (y1 - y0) * KM_PER_DEG_LAT:
        cut = round(x0 + (x1 - x0) * ratio, 6)  # first items to the west
        first, second = (x0, y0, cut, y1), (cut, y0, x1, y1)
    else:
        cut = round(y1 - (y1 - y0) * ratio, 6)  # first items to the north
        first, second = (x0, cut, x1, y1), (x0, y0, x1, cut)
    return split(first, weights[:cut_after]) + split(second, weights[cut_after:])


# --- Staff --------------------------------------------------------------------------------------------------


class People:
    """Draws synthetic names and unique phone numbers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.phones: set[str] = set()

    def name(self) -> str:
        if self.rng.random() < 0.06:
            return self.rng.choice(MONGOLIAN_NAMES)
        given = "".join(self.rng.choice(GIVEN_CHARS) for _ in range(self.rng.choice((1, 2, 2))))
        return self.rng.choice(SURNAMES) + given

    def phone(self) -> str:
        while True:
            phone = f"139{self.rng.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone


def build_staff(rng: random.Random, communities: list[CommunityPlan], grids: list[GridPlan]) -> list[Row]:
    """Staff rows by community: instructor, police officer, leaders, full-time handlers, then part-timers."""
    by_community = {c.code: [g for g in grids if g.community is c] for c in communities}
    leaders = _leaders_per_community(rng, communities, by_community)
    part_timers = _part_timers_per_grid([g for g in grids if g.kind == "geographic"])
    people = People(rng)
    rows: list[Row] = []

    def add(role: str, grid_codes: list[str], community: CommunityPlan) -> None:
        staff_id = f"S{len(rows) + 1:04d}"
        rows.append(
            [
                staff_id,
                people.name(),
                role,
                ";".join(grid_codes),
                community.code,
                people.phone(),
                f"{staff_id.lower()}@grid.haibowan.example",
            ]
        )

    for community in communities:
        members = by_community[community.code]
        codes = [g.code for g in members]
        add("grid_instructor", codes, community)
        add("police_officer", codes, community)  # one officer covers every grid of the community
        # with n grids and L leaders, the first n - L leaders take two neighbouring grids each
        doubles = len(codes) - leaders[community.code]
        position = 0
        for index in range(leaders[community.code]):
            take = 2 if index < doubles else 1
            add("grid_leader", codes[position : position + take], community)
            position += take
        geographic = [g for g in members if g.kind == "geographic"]
        # a dedicated grid is handled by the full-time worker of its host, a geographic grid next to it
        hosted = {g.host.code: g.code for g in members if g.host is not None}
        for grid in geographic:
            role = "rural_worker" if grid.area == "rural" else "full_time_worker"
            handled = [grid.code] + ([hosted[grid.code]] if grid.code in hosted else [])
            add(role, handled, community)
        for grid in geographic:
            for _ in range(part_timers[grid.code]):
                add("part_time_worker", [grid.code], community)
    return rows


def _leaders_per_community(
    rng: random.Random, communities: list[CommunityPlan], by_community: dict[str, list[GridPlan]]
) -> dict[str, int]:
    """Leaders per community summing to the district total; each leads one or two grids of its community."""
    leaders = {c.code: math.ceil(len(by_community[c.code]) / 2) for c in communities}
    spare = STAFF_TOTALS["grid_leader"] - sum(leaders.values())
    while spare > 0:
        open_codes = [c.code for c in communities if leaders[c.code] < len(by_community[c.code])]
        leaders[rng.choice(open_codes)] += 1
        spare -= 1
    return leaders


def _part_timers_per_grid(geographic: list[GridPlan]) -> dict[str, int]:
    """Two part-timers per geographic grid, the rest shared out by population (highest-averages method)."""
    counts = {g.code: 2 for g in geographic}
    queue = [(-g.population / 3, index, g.code, g.population) for index, g in enumerate(geographic)]
    heapq.heapify(queue)
    for _ in range(STAFF_TOTALS["part_time_worker"] - 2 * len(geographic)):
        _, index, code, population = heapq.heappop(queue)
        counts[code] += 1
        heapq.heappush(queue, (-population / (counts[code] + 1), index, code, population))
    return counts


# --- Addresses ----------------------------------------------------------------------------------------------

ADDRESSES_PER_GRID = 3
ADDRESS_COLUMNS = ("address_id", "address", "lat", "long", "grid_code")
CHINESE_NUMERALS = "一二三四五六七八九十"


def build_addresses(rng: random.Random, grids: list[GridPlan]) -> list[Row]:
    rows: list[Row] = []
    for grid in grids:
        community = grid.community
        prefix = f"{DISTRICT['name']}{community.sub_centre_name}{community.name}"
        seen: set[str] = set()
        while len(seen) < ADDRESSES_PER_GRID:
            building = rng.randint(1, grid.buildings)
            if grid.kind == "dedicated":
                text = f"{prefix} {grid.site} {building}号楼"
            elif grid.area == "rural":
                group = int(grid.code[-3:])
                text = f"{prefix} {CHINESE_NUMERALS[group - 1]}组 {building}号"
            else:
                text = f"{prefix} {grid.first_building + building - 1}号楼 {rng.randint(1, 6)}单元"
            if text in seen:
                continue
            seen.add(text)
            long, lat = grid.interior_point(rng)
            rows.append([f"A{len(rows) + 1:05d}", text, f"{lat:.6f}", f"{long:.6f}", grid.code])
    return rows


# --- Documents ----------------------------------------------------------------------------------------------


def organisation_document(communities: list[CommunityPlan]) -> dict[str, object]:
    return {
        "district": {
            **DISTRICT,
            "centre": {
                **CENTRE,
                "zones": [{"code": c, "name": n, "name_en": e} for c, n, e in ZONES],
                "function_rooms": [
                    {"code": c, "name": n, "name_en": e, "zone_code": "dispute_resolution"}
                    for c, n, e in FUNCTION_ROOMS
                ],
            },
        },
        "sub_centres": [
            {
                "code": f"{DISTRICT['code']}{index:03d}",
                "name": name,
                "name_en": f"{name_en} {'Town' if kind == 'town' else 'Subdistrict'}",
                "kind": kind,
                "centre_name": f"{name}社会治理联动分中心",
            }
            for index, (name, name_en, kind, _) in enumerate(SUB_CENTRES, start=1)
        ],
        "communities": [
            {
                "code": c.code,
                "name": c.name,
                "name_en": c.name_en,
                "sub_centre_code": c.sub_centre_code,
                "kind": c.kind,
                "pilot": c.pilot,
                "workstation_name": f"{c.name}社会治理联动工作站",
            }
            for c in communities
        ],
        "departments": [{"code": c, "name": n, "name_en": e} for c, n, e in DEPARTMENTS],
        "platforms": [{"code": c, "name": n, "name_en": e} for c, n, e in PLATFORMS],
        "volunteer_teams": [
            {
                "code": f"VT{index:02d}",
                "name": f"{c.name}志愿服务队",
                "name_en": f"{c.name_en} Volunteer Team",
                "community_code": c.code,
            }
            for index, c in enumerate(communities, start=1)  # one standing team per community
        ],
    }


def categories_document() -> list[dict[str, object]]:
    return [
        {
            "code": code,
            "name": name,
            "name_en": name_en,
            "kind": kind,
            "urgency": urgency,
            "department_code": department,
            "iot": iot,
            "description": description,
        }
        for code, name, name_en, kind, urgency, department, iot, description in CATEGORIES
    ]


def grids_geojson(grids: list[GridPlan]) -> str:
    """A FeatureCollection with one feature per line: small, and readable in a diff."""
    features = []
    for grid in grids:
        feature = {
            "type": "Feature",
            "id": grid.code,
            "properties": {
                "code": grid.code,
                "name": grid.name,
                "community_code": grid.community.code,
                "sub_centre_code": grid.community.sub_centre_code,
                "kind": grid.kind,
                "area": grid.area,
                "population": grid.population,
                "buildings": grid.buildings,
            },
            "geometry": {"type": "Polygon", "coordinates": [[list(position) for position in grid.ring()]]},
        }
        features.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(features) + "\n]}\n"


def write_csv(path: Path, header: tuple[str, ...], rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def generate(out_dir: Path) -> None:
    rng = random.Random(SEED)
    communities = plan_communities(rng)
    grids = plan_grids(rng, communities)
    lay_out(rng, communities, grids)
    staff = build_staff(rng, communities, grids)
    addresses = build_addresses(rng, grids)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "organisation.json", organisation_document(communities))
    write_json(out_dir / "categories.json", categories_document())
    (out_dir / "grids.geojson").write_text(grids_geojson(grids), encoding="utf-8")
    write_csv(out_dir / "staff.csv", STAFF_COLUMNS, staff)
    write_csv(out_dir / "addresses.csv", ADDRESS_COLUMNS, addresses)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    generate(args.out)


if __name__ == "__main__":
    main()
