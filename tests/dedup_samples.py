"""Short texts shared by the dedup tests: one event, its rewrite, another event, sport."""

from __future__ import annotations

STORY = (
    "Baidu on Sunday released Ernie 4.5 and the reasoning model Ernie X1, making both free "
    "for individual users of its Ernie Bot chatbot. The Beijing company said Ernie X1 matches "
    "DeepSeek R1 at half the price, charging 2 yuan per million output tokens. Robin Li told "
    "developers in Beijing that Ernie 4.5 understands images and audio. Analysts at Omdia said "
    "the launch shows how hard DeepSeek has pushed Baidu, whose shares rose 3.2% in Hong Kong "
    "on Monday. Baidu plans to open-source the Ernie 4.5 series on June 30, the company said, "
    "reversing a long-held stance. Lian Jye Su of Omdia called it a turning point for Baidu."
)
REWRITE = (
    "Chinese search giant Baidu has launched two new AI models, Ernie 4.5 and Ernie X1, and "
    "made them free for consumers. According to Baidu, X1 performs on par with DeepSeek R1 "
    "but costs half as much, at 2 yuan per million output tokens. Chief executive Robin Li "
    "said Ernie 4.5 can handle images and audio. Hong Kong-listed Baidu shares gained 3.2% on "
    "Monday. Omdia analyst Lian Jye Su said DeepSeek had forced Baidu's hand; the company will "
    "release the Ernie 4.5 series as open source on June 30."
)
OTHER_EVENT = (
    "Baidu plans to release Ernie 5, the next generation of its model, in the second half of "
    "the year, people familiar with the matter said, as the company tries to catch up with Alibaba "
    "and ByteDance. Baidu was the first big Chinese tech company to launch a ChatGPT-style bot "
    "in March 2023. The new model will be a significant upgrade, the people said, and Baidu "
    "is also investing in data centres in Shanxi. A Baidu spokesperson declined to comment."
)
# Same topic, another event, and no version, date or amount that disagrees: what the
# embeddings cannot tell apart (see test_dedup_score.py, a known limitation).
OTHER_EVENT_NO_SPECIFICS = (
    "Baidu is preparing a major upgrade of its Ernie model for later this year, people familiar "
    "with the matter said, as it tries to catch up with Alibaba and ByteDance. The company was "
    "the first big Chinese tech firm to launch a ChatGPT-style bot. A Baidu spokesperson "
    "declined to comment."
)
SPORT = (
    "Evgeni Malkin scored twice and added an assist as the Pittsburgh Penguins beat the Ottawa "
    "Senators 5-2 on Monday, their third straight win. Jake Guentzel left the game with an "
    "apparent arm injury after crashing into the end boards in the third period."
)
POLITICS = (
    "The Senate voted 51-48 on Thursday to confirm the new secretary of the interior after a "
    "heated debate over drilling permits on federal land. Two Republicans joined Democrats in "
    "opposing the nominee, who pledged to review the leasing programme within 90 days."
)
HEALTH = (
    "A large trial of a once-weekly injection for high blood pressure found that it lowered "
    "systolic pressure by 12 points after six months, researchers told a cardiology congress in "
    "Madrid. Side effects were mild, mostly nausea, and the drug maker plans to file for approval."
)

# The Ernie launch of STORY in Chinese, and two unrelated Chinese stories.
STORY_ZH = (
    "3月16日，百度正式发布文心大模型4.5和深度思考模型文心X1，并宣布文心一言对个人用户免费开放。"
    "百度称，X1的性能与DeepSeek R1相当，价格仅为其一半，输出价格为每百万tokens 2元。"
    "李彦宏表示，文心4.5能够理解图片和音频。百度计划于6月30日开源文心4.5系列模型。"
    "受此消息影响，百度港股周一上涨3.2%。"
)
ZHIPU_ZH = (
    "中国证监会网站显示，北京智谱华章科技股份有限公司已在北京证监局办理辅导备案，辅导机构为中金公司，"
    "这意味着智谱正式启动A股上市进程。智谱成立于2019年，由清华大学技术成果转化而来，"
    "是国内最早发布千亿参数大模型的公司之一，此前已完成多轮融资。"
)
EXPORT_ZH = (
    "美国商务部宣布新的出口管制措施，将140家中国实体列入实体清单，其中包括多家半导体设备企业，"
    "并限制对华出口高带宽内存芯片，同时新增对24种芯片制造设备和3种软件的管制。"
    "中国商务部发言人表示坚决反对，将采取必要措施维护中国企业的正当权益。"
)
