"""A short report that passes the compliance check (all five contents as sections, causes given, the
right years, 落款 and date), for tests whose subject is not the check itself."""

from __future__ import annotations


def report_text(unit: str = "野鹤镇", year: int = 2026) -> str:
    return f"""{unit}关于{year}年度法治政府建设情况的报告

一、{year}年推进法治政府建设的主要举措和成效
全年审查规范性文件12件，开展法治宣传活动20场。
二、存在的不足和原因
基层法治力量薄弱。原因是专职人员编制少、培训不足。
三、党政主要负责人履行推进法治建设第一责任人职责情况
主要负责人主持召开专题会议研究法治建设工作3次。
四、{year + 1}年推进法治政府建设的主要安排
加强执法队伍建设，深化基层依法治理。
五、其他需要报告的情况
无。

{unit}
{year + 1}年1月10日
"""


DRAFT = report_text()
