"""What a sample firm is: its segment, its status and its name (all sample assumptions).

Both generators draw from these tables: the register (:mod:`etl.sample.register`) firm by firm,
the scale drop (:mod:`etl.sample.scale`) over arrays.
"""

from __future__ import annotations

# --- Segments --------------------------------------------------------------------------------
SEGMENTS: tuple[tuple[str, str], ...] = (
    ("foundation_models", "大模型"),
    ("chips_computing", "智能芯片与算力"),
    ("robotics_embodied", "智能机器人与具身智能"),
    ("intelligent_vehicles", "智能网联汽车"),
    ("applications", "人工智能应用"),
    ("data_infrastructure", "数据与基础设施"),
)
SEGMENT_CODES = tuple(s[0] for s in SEGMENTS)
SEGMENT_ZH = dict(SEGMENTS)
FM = SEGMENT_CODES.index("foundation_models")
# Segment mix of new firms by founding year: models are rare until the 2023 boom.
SEGMENT_MIX: tuple[tuple[int, tuple[float, ...]], ...] = (
    (2016, (0.02, 0.14, 0.12, 0.10, 0.42, 0.20)),
    (2020, (0.05, 0.14, 0.13, 0.11, 0.38, 0.19)),
    (2022, (0.09, 0.15, 0.14, 0.11, 0.34, 0.17)),
    (2030, (0.36, 0.10, 0.15, 0.07, 0.22, 0.10)),
)
# Revenue level (log) by segment, and drift per quarter before/after 2023 (log points).
SEGMENT_LOG_LEVEL = (-0.4, 0.5, 0.0, 0.6, -0.2, 0.1)
SEGMENT_DRIFT_EARLY = (0.00, 0.020, 0.015, 0.025, 0.010, 0.015)
SEGMENT_DRIFT_LATE = (0.10, 0.025, 0.040, 0.025, 0.008, 0.015)

STATUS_CODES = ("active", "suspended", "deregistered", "moved_out")
STATUS_ZH = {"active": "存续", "suspended": "停业", "deregistered": "注销", "moved_out": "迁出"}
ACTIVE, SUSPENDED, DEREGISTERED, MOVED_OUT = range(4)

# --- Names -----------------------------------------------------------------------------------
# Two-character brand words with their pinyin; a name joins two different words, so names are
# plainly synthetic (上海智元数联科技有限公司) yet read like real ones.
BRAND_WORDS: tuple[tuple[str, str], ...] = (
    ("智元", "Zhiyuan"), ("数联", "Shulian"), ("云图", "Yuntu"), ("深思", "Shensi"),
    ("星河", "Xinghe"), ("灵犀", "Lingxi"), ("天枢", "Tianshu"), ("启明", "Qiming"),
    ("万象", "Wanxiang"), ("明睿", "Mingrui"), ("博远", "Boyuan"), ("鸿图", "Hongtu"),
    ("锦程", "Jincheng"), ("芯动", "Xindong"), ("瀚海", "Hanhai"), ("青禾", "Qinghe"),
    ("极目", "Jimu"), ("睿思", "Ruisi"), ("海纳", "Haina"), ("衡方", "Hengfang"),
    ("知行", "Zhixing"), ("慧眼", "Huiyan"), ("九章", "Jiuzhang"), ("浦江", "Pujiang"),
    ("申城", "Shencheng"), ("东方", "Dongfang"), ("未来", "Weilai"), ("弘毅", "Hongyi"),
    ("拓界", "Tuojie"), ("微光", "Weiguang"), ("凌云", "Lingyun"), ("致新", "Zhixin"),
    ("若水", "Ruoshui"), ("映像", "Yingxiang"), ("擎天", "Qingtian"), ("蓝湾", "Lanwan"),
    ("银杉", "Yinshan"), ("北辰", "Beichen"), ("南星", "Nanxing"), ("玄武", "Xuanwu"),
    ("方舟", "Fangzhou"), ("观澜", "Guanlan"), ("合一", "Heyi"), ("恒信", "Hengxin"),
    ("聚能", "Juneng"), ("新瞳", "Xintong"), ("天衍", "Tianyan"), ("云帆", "Yunfan"),
)
SEGMENT_SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "foundation_models": (("智能科技", "Intelligent Technology"),
                          ("人工智能科技", "Artificial Intelligence Technology"),
                          ("信息科技", "Information Technology")),
    "chips_computing": (("半导体", "Semiconductor"), ("微电子", "Microelectronics"),
                        ("计算技术", "Computing Technology")),
    "robotics_embodied": (("机器人", "Robotics"), ("智能装备", "Intelligent Equipment"),
                          ("自动化科技", "Automation Technology")),
    "intelligent_vehicles": (("智能驾驶科技", "Intelligent Driving Technology"),
                             ("汽车科技", "Automotive Technology"),
                             ("智行科技", "Smart Mobility Technology")),
    "applications": (("网络科技", "Network Technology"), ("信息技术", "Information Technology"),
                     ("软件", "Software"), ("科技", "Technology")),
    "data_infrastructure": (("数据科技", "Data Technology"), ("云计算", "Cloud Computing"),
                            ("信息服务", "Information Services")),
}
COMPANY_FORMS = (("有限公司", "Co., Ltd."), ("股份有限公司", "Corporation"))

